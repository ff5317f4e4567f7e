"""A camera runs for days: run_edge.py (a `fallkd export` bundle on ONNX Runtime) for N minutes on a looping clip,
alerting to a local webhook (127.0.0.1, in a thread here) that answers HTTP 500 or times out on 30% of requests.

    .venv/bin/python benchmarks/soak_edge.py [--minutes 10] [--bundle DIR | --classifier RUN] [--fail-rate 0.3]

Without --bundle, the shipped detector and the classifier (default: notebook 04's distilled student; an untrained
EfficientNet-B0 when it is missing) are exported into a temporary bundle whose fall state makes every confirmed
person `down` at once and alerts it after 5 s of clip time (a seen fall) or 10 s (found down), and again every
--cooldown seconds: a stress test of the alert path, not of accuracy. The clip is read as fast as the CPU allows (its clock runs faster than a
camera's). run_edge.py runs as on the device, in its own process, supervised here (restarted if it exits; a restart
is a failure), and is stopped with SIGTERM at the end, as a service manager stops it.

Prints: frames; alerts raised (alerts.jsonl) vs delivered (the webhook answered 200; the server's count and the
delivery log's) vs logged (alert_deliveries.jsonl: every alert, delivered or not; none may be missing); restarts
(target 0); resident memory after the warm-up vs at the end (target: under 5% growth).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_export import DEFAULT_CLASSIFIER, classifier_run  # noqa: E402

from fallkd_lib.config import FallStateConfig, pipeline_config  # noqa: E402
from fallkd_lib.data.synthetic import generate_clip  # noqa: E402
from fallkd_lib.export.bundle import export_bundle  # noqa: E402
from fallkd_lib.runtime.loaders import shipped_detector  # noqa: E402
from fallkd_lib.settings import configure_offline  # noqa: E402

CLIENT_TIMEOUT = 3.0  # run_edge.py's AlertOutbox: 3 s per POST, 2 retries
MAX_GROWTH = 0.05


class Webhook:
    """A local webhook that fails exactly fail_rate of the requests, spread evenly (request k fails when
    floor((k + 1) * rate) > floor(k * rate)), alternately with HTTP 500 and with a reply after the client's timeout;
    counts what it got and which alerts it accepted."""

    def __init__(self, fail_rate: float) -> None:
        self.fail_rate, self.lock = fail_rate, threading.Lock()
        self.counts: Counter = Counter()
        self.accepted: set[tuple] = set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    k = hook.counts["requests"]
                    hook.counts["requests"] += 1
                    fails = math.floor((k + 1) * hook.fail_rate) > math.floor(k * hook.fail_rate)
                    kind = ("http_500", "timed_out")[hook.counts["failed"] % 2] if fails else "ok"
                    hook.counts["failed"] += fails
                    hook.counts[kind] += 1
                    if kind == "ok":
                        hook.accepted.add((body["camera"], body["track_id"], body["source_time"]))
                if kind == "http_500":
                    self.send_response(500)
                    self.end_headers()
                elif kind == "timed_out":
                    time.sleep(CLIENT_TIMEOUT + 1)  # the client has given up by now
                else:
                    self.send_response(200)
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alert"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def make_bundle(folder: Path, classifier: str, cooldown: float) -> tuple[Path, str]:
    """Export the soak's bundle: every confirmed person down at once, an alert every cooldown s of clip time."""
    run, made = classifier_run(classifier, folder)
    state = FallStateConfig(
        enter=0.01, exit=0.0, alert_after=5.0, found_down_after=10.0, smoothing=0.5, cooldown=cooldown
    )
    config = pipeline_config("quick", tracker="iou", state=state)
    export_bundle(shipped_detector(), run, folder / "deploy", config=config)
    return folder / "deploy", made


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def main() -> int:
    """Run the soak and print its report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--bundle", type=Path, default=None, help="a `fallkd export` folder (default: export one)"
    )
    parser.add_argument("--classifier", default=str(DEFAULT_CLASSIFIER), help="classifier run for the bundle")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="share of webhook requests that fail")
    parser.add_argument("--cooldown", type=float, default=20.0, help="clip seconds between a person's alerts")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the first memory reading")
    parser.add_argument("--out", type=Path, default=None, help="keep run_edge.py's output here")
    args = parser.parse_args()
    configure_offline()
    seconds = 60 * args.minutes
    warmup = args.warmup if args.warmup is not None else min(60.0, 0.2 * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle, made = (
            (args.bundle, "given") if args.bundle else make_bundle(tmp, args.classifier, args.cooldown)
        )
        clip = generate_clip(tmp / "crowd", "crowd", seconds=20.0, fps=10.0, size=320, seed=0).video
        out = args.out or tmp / "out"
        hook = Webhook(args.fail_rate)
        print(
            f"bundle {bundle} (classifier: {made}); clip {clip.name} looping; webhook {hook.url} failing "
            f"{args.fail_rate:.0%}; {args.minutes:g} min, memory after {warmup:.0f} s"
        )
        command = [sys.executable, str(bundle / "run_edge.py"), "--source", str(clip), "--loop"]
        command += ["--webhook", hook.url, "--camera", "soak"]
        restarts, runs, samples, log = -1, [], [], open(tmp / "run_edge.log", "w")  # noqa: SIM115
        start = time.monotonic()
        process = None
        while time.monotonic() - start < seconds:
            if process is None or process.poll() is not None:
                restarts += 1
                runs.append(out / f"run{restarts}")
                env = dict(os.environ, PYTHONFAULTHANDLER="1")
                process = subprocess.Popen(
                    [*command, "--out", str(runs[-1])], stdout=log, stderr=log, env=env
                )
            time.sleep(1.0)
            mb = rss_mb(process.pid)
            if mb is not None:
                samples.append((time.monotonic() - start, mb))
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a camera that cannot be stopped is a failure too
            process.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to the log first
            time.sleep(2)
            process.kill()
            code = f"killed: no exit within 60 s of SIGTERM ({process.wait()})"
        log.close()
        summaries = [
            json.loads((r / "summary.json").read_text()) for r in runs if (r / "summary.json").is_file()
        ]
        alerts = [a for r in runs for a in read_lines(r / "alerts.jsonl")]
        logged = [d for r in runs for d in read_lines(r / "alert_deliveries.jsonl")]
        output_tail = (tmp / "run_edge.log").read_text().splitlines()[-3:]
        shutil.copy(tmp / "run_edge.log", out / "run_edge.log")
    key = ("camera", "track_id", "source_time")
    missing = {tuple(a[k] for k in key) for a in alerts} - {tuple(d[k] for k in key) for d in logged}
    delivered = [d for d in logged if d["delivered"].get("webhook")]
    causes = Counter(
        d["errors"].get("webhook", "").split(";")[-1].strip() for d in logged if d not in delivered
    )
    warm = next((mb for t, mb in samples if t >= warmup), samples[0][1])
    end = samples[-1][1]
    frames = sum(s["frames"] for s in summaries)
    growth = end / warm - 1
    print(
        f"\nframes {frames} in {seconds / 60:g} min ({frames / seconds:.1f}/s); exit code after SIGTERM {code}"
    )
    print(
        f"alerts raised {len(alerts)} | delivered {len(delivered)} (server accepted {len(hook.accepted)}) | "
        f"logged {len(logged)} | missing from the log {len(missing)}"
    )
    print(
        f"webhook requests {hook.counts['requests']}: ok {hook.counts['ok']}, HTTP 500 {hook.counts['http_500']}, "
        f"timed out {hook.counts['timed_out']}; undelivered after retries: {dict(causes)}"
    )
    print(
        f"restarts {restarts}; resident memory {warm:.1f} MiB after {warmup:.0f} s -> {end:.1f} MiB at the end "
        f"({growth:+.1%}; max {max(mb for _, mb in samples):.1f})"
    )
    print("run_edge.py said:", *output_tail, sep="\n  ")
    ok = (
        not missing and restarts == 0 and growth < MAX_GROWTH and len(logged) == len(alerts) > 0 and code == 0
    )
    print(
        f"targets (none lost from the log, no restart, memory growth < {MAX_GROWTH:.0%}): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
