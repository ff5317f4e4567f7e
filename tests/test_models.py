"""fallkd_lib.models: timm classifiers, local/offline weights, ViT partial freezing and the TX2 budget.

Hand counts used below, for a timm ViT with width D, MLP 4D, N tokens (patches + class token):
- one encoder block has norm1 2D + qkv (3D^2 + 3D) + proj (D^2 + D) + norm2 2D + fc1 (4D^2 + 4D) + fc2 (4D^2 + D)
  = 12 D^2 + 13 D parameters (444,864 for D = 192);
- FLOPs (2 x MACs) = patch conv 2*P*D*(3*16*16) for P patches
  + per block 2*N*D*3D (qkv) + 2*N*N*D*2 (Q K^T and A V over all heads) + 2*N*D*D (proj) + 2*2*N*D*4D (MLP)
  + head 2*D*classes (class token only); norms, softmax, GELU and bias adds are not counted.
"""

from __future__ import annotations

import time

import huggingface_hub.constants
import pytest
import timm
import torch
import torch.nn as nn
from safetensors.torch import save_file

from fallkd_lib.models import (
    MODEL_NAMES,
    WeightsUnavailableError,
    budget_table,
    budget_verdict,
    count_flops,
    count_parameters,
    create_classifier,
    freeze_for_finetune,
    hub_id,
    input_stats,
    model_budget,
    trainable_summary,
)
from fallkd_lib.models import create as create_module

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def vit_block_params(dim: int) -> int:
    return 12 * dim * dim + 13 * dim


def vit_flops(image: int, dim: int, depth: int, classes: int, patch: int = 16) -> int:
    patches = (image // patch) ** 2
    tokens = patches + 1
    block = 2 * tokens * dim * 3 * dim + 2 * tokens * tokens * dim * 2 + 2 * tokens * dim * dim
    block += 2 * 2 * tokens * dim * 4 * dim
    return 2 * patches * dim * 3 * patch * patch + depth * block + 2 * dim * classes


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch, tmp_path):
    """No test may reach the network or a real Hugging Face cache."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(create_module, "_hub_reachable", lambda timeout=3.0: False)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_name_builds_and_gives_two_logits(name):
    # ViT-B/16 on the meta device: same code and shapes, without seconds spent initialising 86 M weights
    device = torch.device("meta" if name == "vit_b_16" else "cpu")
    with device:
        model = create_classifier(name, num_classes=2, image_size=64).eval()
    with torch.no_grad():
        logits = model(torch.zeros(3, 3, 64, 64, device=device))
    assert logits.shape == (3, 2)
    assert input_stats(model) == (HALF if name.startswith("vit") else IMAGENET)


def test_input_stats_defaults_to_imagenet_for_plain_modules():
    assert input_stats(nn.Linear(3, 2)) == IMAGENET


def test_unknown_name_suggests_and_lists():
    with pytest.raises(ValueError, match=r"unknown model 'resnet19'\. Did you mean 'resnet18'\?") as err:
        create_classifier("resnet19")
    for name in MODEL_NAMES:
        assert name in str(err.value)


def test_bad_num_classes_and_vit_size():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2.*got 1"):
        create_classifier("resnet18", num_classes=1)
    with pytest.raises(ValueError, match="multiple of its patch size 16, got 70: try 64"):
        create_classifier("vit_tiny", image_size=70)


def test_offline_pretrained_fails_fast_and_names_both_ways_out(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as err:
        create_classifier("resnet18", pretrained=True)
    assert time.perf_counter() - start < 5
    assert isinstance(err.value, RuntimeError)
    text = str(err.value)
    repo = hub_id("resnet18")
    assert repo.startswith("timm/resnet18.")
    for part in ("'resnet18'", "offline", "pretrained=False", 'weights="path/to/model.safetensors"', repo):
        assert part in text


def test_fallkd_offline_sets_hf_offline_without_probing(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("FALLKD_OFFLINE", "1")

    def probe(timeout=3.0):
        raise AssertionError("the network must not be probed when offline is requested")

    monkeypatch.setattr(create_module, "_hub_reachable", probe)
    with pytest.raises(WeightsUnavailableError, match="vit_base_patch16_224"):
        create_classifier("vit_b_16", pretrained=True)
    assert create_module.os.environ["HF_HUB_OFFLINE"] == "1"


def test_unreachable_hub_counts_as_offline(monkeypatch):
    for key in ("HF_HUB_OFFLINE", "FALLKD_OFFLINE", "YOLO_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(WeightsUnavailableError, match="offline"):
        create_classifier("efficientnet_b0", pretrained=True)
    assert create_module.os.environ["HF_HUB_OFFLINE"] == "1"


def test_offline_pretrained_uses_the_hugging_face_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = timm.create_model("resnet18")
    snapshot = tmp_path / "hf_cache" / f"models--{hub_id('resnet18').replace('/', '--')}"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0" * 40)
    (snapshot / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(source.state_dict(), snapshot / "snapshots" / ("0" * 40) / "model.safetensors")
    model = create_classifier("resnet18", pretrained=True)
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert model.fc.weight.shape == (2, 512)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_round_trip_adapts_the_head(tmp_path, suffix):
    source = timm.create_model("resnet18", num_classes=1000)
    saved = {k: v.clone() for k, v in source.state_dict().items()}
    path = tmp_path / f"resnet18{suffix}"
    save_file(saved, path) if suffix == ".safetensors" else torch.save(saved, path)
    model = create_classifier("resnet18", num_classes=2, weights=path)
    loaded = model.state_dict()
    assert loaded["fc.weight"].shape == (2, 512) and loaded["fc.bias"].shape == (2,)
    backbone = [k for k in saved if not k.startswith("fc.")]
    assert len(backbone) == len(loaded) - 2
    for key in backbone:
        assert torch.equal(loaded[key], saved[key]), key
    assert model.pretrained_cfg["file"] == str(path)


def test_local_weights_keep_a_head_of_the_right_shape(tmp_path):
    source = timm.create_model("resnet18", num_classes=2)
    path = tmp_path / "two.pth"
    torch.save(source.state_dict(), path)
    model = create_classifier("resnet18", num_classes=2, weights=path)
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_vit_weights_resample_position_embedding(tmp_path):
    source = timm.create_model("vit_tiny_patch16_224")  # 224 px: 14 x 14 patches
    path = tmp_path / "vit_tiny.safetensors"
    save_file(source.state_dict(), path)
    model = create_classifier("vit_tiny", weights=path, image_size=64)
    assert model.pos_embed.shape == (1, 4 * 4 + 1, 192)
    assert torch.equal(model.blocks[5].attn.qkv.weight, source.blocks[5].attn.qkv.weight)
    assert model.head.weight.shape == (2, 192)


def test_weights_of_another_layout_are_refused(tmp_path):
    source = timm.create_model("resnet18")
    prefixed = tmp_path / "prefixed.pth"
    torch.save({f"backbone.{k}": v for k, v in source.state_dict().items()}, prefixed)
    expected = r"prefixed\.pth does not fit this ResNet: 122 missing keys \(bn1\.bias.*; 122 unexpected keys \(backbone\."
    with pytest.raises(ValueError, match=expected):
        create_classifier("resnet18", weights=prefixed)
    other = tmp_path / "effnet.pth"
    torch.save(timm.create_model("efficientnet_b0").state_dict(), other)
    expected = r"effnet\.pth does not fit this ResNet: .*; 4 with another shape \(bn1\.weight \(file \(32,\), model \(64,\)\)"
    with pytest.raises(ValueError, match=expected):
        create_classifier("resnet18", weights=other)


def test_missing_or_odd_weights_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*nope\.safetensors"):
        create_classifier("resnet18", weights=missing)
    odd = tmp_path / "weights.txt"
    odd.write_text("not weights")
    with pytest.raises(ValueError, match=r"weights\.txt has suffix '\.txt'; supported: \.safetensors"):
        create_classifier("resnet18", weights=odd)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"could not read weights file .*broken\.pth"):
        create_classifier("resnet18", weights=broken)


def test_freeze_vit_tiny_counts_by_hand():
    model = create_classifier("vit_tiny", image_size=64)
    dim, depth, tokens = 192, 12, 4 * 4 + 1
    head, norm = dim * 2 + 2, 2 * dim
    total = dim + tokens * dim + (3 * 16 * 16 * dim + dim) + depth * vit_block_params(dim) + norm + head
    assert vit_block_params(dim) == 444_864
    info = freeze_for_finetune(model, train_last_blocks=1)
    assert info == {
        "trainable": 444_864 + norm + head,
        "total": total,
        "trainable_names": ["blocks.11", "norm", "head"],
    }
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        n for n, _ in model.named_parameters() if n.startswith(("blocks.11.", "norm.", "head."))
    }
    summary = trainable_summary(model).set_index("name")
    assert summary["params"].sum() == total and summary["trainable"].sum() == info["trainable"]
    assert summary.loc["blocks", "trainable"] == 444_864 and summary.loc["pos_embed", "trainable"] == 0
    assert freeze_for_finetune(model, train_last_blocks=2)["trainable"] == 2 * 444_864 + norm + head
    assert (
        not model.blocks[9].attn.qkv.weight.requires_grad and model.blocks[10].attn.qkv.weight.requires_grad
    )
    with pytest.raises(ValueError, match=r"train_last_blocks must be an integer in 0\.\.12.*got 13"):
        freeze_for_finetune(model, train_last_blocks=13)


def test_freeze_refuses_a_cnn():
    with pytest.raises(ValueError, match="needs a timm VisionTransformer.*got ResNet"):
        freeze_for_finetune(create_classifier("resnet18"))


def test_count_parameters():
    layer = nn.Linear(3, 2)
    layer.weight.requires_grad = False
    assert count_parameters(layer) == 8 and count_parameters(layer, trainable_only=True) == 2


def test_budget_of_a_linear_model_by_hand():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    assert count_flops(model, 8, batch=4) == 2 * 4 * 192 * 5
    budget = model_budget(model, input_size=(8, 8), batch=4)
    assert budget["flops"] == 2 * 192 * 5 and budget["params"] == 192 * 5 + 5
    assert budget["input_size"] == (8, 8) and budget["verdict"] == "fits"


def test_budget_of_a_conv_net_by_hand_restores_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    model.train()
    conv = 2 * (4 * 8 * 8) * (3 * 3 * 3)  # 2 x output elements x (in_channels x kernel area)
    assert model_budget(model, 8, batch=2)["flops"] == conv + 2 * 256 * 2
    assert model.training
    model.eval()
    model_budget(model, 8)
    assert not model.training


def test_attention_is_counted_in_multihead_attention():
    class TokenAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(3, 1, batch_first=True)

        def forward(self, images):
            tokens = images.flatten(2).transpose(1, 2)  # (B, H*W, 3)
            return self.mha(tokens, tokens, tokens, need_weights=False)[0]

    length, dim = 16, 3
    expected = 2 * length * dim * 3 * dim + 2 * length * length * dim * 2 + 2 * length * dim * dim
    assert count_flops(TokenAttention().eval(), 4) == expected  # the fast path would count 0
    assert torch.backends.mha.get_fastpath_enabled()


def test_vit_tiny_flops_include_attention():
    model = create_classifier("vit_tiny", image_size=64)
    assert model.blocks[0].attn.fused_attn  # the F.scaled_dot_product_attention path
    expected = vit_flops(64, 192, 12, 2)
    assert expected == 187_868_928
    assert count_flops(model, 64) == expected
    for block in model.blocks:
        block.attn.fused_attn = False  # the explicit q @ k.T path
    assert count_flops(model, 64) == expected


def test_reference_models_at_224():
    with torch.device("meta"):  # shapes only: no weights allocated or initialised
        models = {name: create_classifier(name) for name in ("resnet18", "efficientnet_b0", "vit_b_16")}
    table = budget_table(models, 224)
    assert list(table.index) == ["resnet18", "efficientnet_b0", "vit_b_16"]
    assert list(table.columns) == ["params_m", "gflops", "verdict"]
    vit = model_budget(models["vit_b_16"], 224)
    head, tokens = 768 * 2 + 2, 14 * 14 + 1
    vit_params = 768 + tokens * 768 + (768 * 768 + 768) + 12 * vit_block_params(768) + 2 * 768 + head
    assert vit["params"] == vit_params == 85_800_194 and vit["flops"] == vit_flops(224, 768, 12, 2)
    assert table.loc["vit_b_16", "verdict"] == "over"
    assert table.loc["resnet18", "params_m"] == pytest.approx(11.18, abs=0.01)
    assert table.loc["resnet18", "gflops"] == pytest.approx(3.63, abs=0.01)  # 1.82 GMACs
    assert table.loc["efficientnet_b0", "params_m"] == pytest.approx(4.01, abs=0.01)
    assert table.loc["efficientnet_b0", "gflops"] == pytest.approx(0.77, abs=0.01)  # 0.39 GMACs
    assert set(table.loc[["resnet18", "efficientnet_b0"], "verdict"]) == {"fits"}


@pytest.mark.parametrize(
    ("params_m", "gflops", "verdict"),
    [(11.2, 3.6, "fits"), (13.0, 20.0, "fits"), (5.0, 20.01, "tight"), (5.0, 30.0, "tight"),
     (5.0, 30.01, "over"), (13.01, 1.0, "over"), (85.8, 35.1, "over")],
)  # fmt: skip
def test_budget_verdicts(params_m, gflops, verdict):
    assert budget_verdict(params_m, gflops) == verdict


def test_new_heads_start_small_so_first_logits_are_near_zero():
    torch.manual_seed(0)
    model = create_classifier("efficientnet_b0", 2).eval()
    head = model.get_classifier()
    assert float(head.weight.detach().abs().max()) <= 0.02 + 1e-6  # trunc_normal(std=0.01) is cut at 2 std
    assert float(head.bias.detach().abs().max()) == 0.0
    with torch.no_grad():
        logits = model(torch.randn(4, 3, 64, 64))
    assert float(logits.abs().max()) < 1.0  # timm's own init gives logits in the tens here


def test_a_fallkd_run_checkpoint_is_accepted_as_weights(tmp_path):
    """A run's best.pt (a model trained on the synthetic world, say) starts a fine-tune: timm's safe reader refuses
    the RNG states it also holds, fallkd's reader takes its weights; a 3-class run gives a 2-class model its
    backbone and a fresh head."""
    from fallkd_lib.train.checkpoint import save_checkpoint

    source = create_classifier("resnet18", num_classes=3)
    path = save_checkpoint(tmp_path / "best.pt", source, None, None, None, 1, 0.9, {"model": "resnet18"})
    model = create_classifier("resnet18", num_classes=2, weights=path)
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert model.fc.weight.shape == (2, 512) and model.pretrained_cfg["file"] == str(path)
