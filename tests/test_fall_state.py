"""The per-track fall state machine on hand-made probability sequences at 10 fps and 2.5 fps.

Expected times are worked out by hand in the comments. With smoothing tau = 0.5 s and frames dt apart, each
frame moves the average by alpha = 1 - exp(-dt / tau): alpha = 0.1813 at 10 fps, 0.5507 at 2.5 fps. From a
steady p0, after k frames at p1 the average is p1 - (p1 - p0) * exp(-k * dt / tau).
"""

from __future__ import annotations

import math

import pytest

from fallkd_lib.runtime.state import FallEvent, FallStateConfig, FallTracker

BOX = (10.0, 20.0, 110.0, 220.0)
# the same person lying: the box top fell 140 px, over fall_drop (0.4) of the 200 px upright height, in one frame
DOWN_BOX = (10.0, 160.0, 210.0, 220.0)
UP, LYING = 0.1, 0.95
# The hand computations below use a 10 s fast path (the default alert_after is 2 s), so that the fast path, the
# slow one and the cooldown are far apart on the clock. Most sequences start lying at t = 0 (found down): there a
# found-down track waits as long as a seen fall.
SLOW_FAST_PATH = FallStateConfig(alert_after=10.0)
NO_SMOOTHING = FallStateConfig(smoothing=0.0, alert_after=10.0, found_down_after=10.0)
FOUND_DOWN = FallStateConfig(smoothing=0.0, alert_after=10.0)  # the default found_down_after, 30 s


def feed(
    tracker: FallTracker, fps: float, segments: list[tuple[float, float | None]], start: float = 0.0
) -> list:
    """Feed track 1 segment by segment: (seconds, prob), prob None = hidden; frame i is at time i / fps. The box
    is BOX while prob < 0.5 and DOWN_BOX from 0.5 on, so a track seen upright before it lies was seen falling."""
    events: list[FallEvent] = []
    frame = round(start * fps)
    for seconds, prob in segments:
        n = round(seconds * fps)
        assert math.isclose(n, seconds * fps), "segments must be whole frames"
        for _ in range(n):
            obs = [] if prob is None else [(1, prob, DOWN_BOX if prob >= 0.5 else BOX)]
            events += tracker.update(frame / fps, obs)
            frame += 1
    return events


def summary(events: list[FallEvent]) -> list[tuple[str, int, float, str]]:
    """(kind, track, time rounded to 1e-6 s, state) per event."""
    return [(e.kind, e.track_id, round(e.time, 6), e.state) for e in events]


# Standing 2 s, lying 12 s (from t = 2.0 to 14.0), standing 6 s.
# smoothing 0: down at 2.0, alert at 2.0 + 10 = 12.0; below exit at 14.0, recovered at 14.0 + 3 = 17.0,
#   which is frame 17.2 at 2.5 fps (frames are 0.4 s apart).
# smoothing 0.5 s, 10 fps: 0.95 - 0.85 exp(-0.2 k) >= 0.7 first at k = 7 (0.740; k = 6 gives 0.694): the 7th
#   lying frame, t = 2.6; alert at 12.6. Standing: 0.1 + 0.85 exp(-0.2 j) < 0.4 first at j = 6 (0.356; j = 5
#   gives 0.413): t = 14.5, recovered at 17.5.
# smoothing 0.5 s, 2.5 fps: k = 1 gives 0.568, k = 2 gives 0.778: t = 2.4; alert at 12.4. Standing: j = 1 gives
#   0.482, j = 2 gives 0.272: t = 14.4; recovered at >= 17.4, i.e. frame t = 17.6.
@pytest.mark.parametrize(
    ("fps", "smoothing", "start", "alert", "recovered"),
    [
        (10, 0.0, 2.0, 12.0, 17.0),
        (2.5, 0.0, 2.0, 12.0, 17.2),
        (10, 0.5, 2.6, 12.6, 17.5),
        (2.5, 0.5, 2.4, 12.4, 17.6),
    ],
)
def test_long_lie_raises_exactly_one_alert_on_time(
    fps: float, smoothing: float, start: float, alert: float, recovered: float
) -> None:
    tracker = FallTracker(FallStateConfig(smoothing=smoothing, alert_after=10.0))
    events = feed(tracker, fps, [(2, UP), (12, LYING), (6, UP)])
    assert summary(events) == [
        ("fall_started", 1, start, "down"),
        ("long_lie", 1, alert, "alerted"),
        ("recovered", 1, recovered, "recovered"),
    ]
    fall, long_lie, back = events
    assert fall.seconds_down == 0.0
    assert long_lie.seconds_down == pytest.approx(10.0, abs=1e-9)
    assert long_lie.prob == pytest.approx(LYING, abs=0.01) and long_lie.box == DOWN_BOX and long_lie.fall_seen
    assert back.seconds_down == pytest.approx(recovered - start)
    assert tracker.states()[1].state == "normal"


@pytest.mark.parametrize("fps", [10, 2.5])
def test_frame_time_rounding_does_not_delay_the_alert_by_a_frame(fps: float) -> None:
    # In binary floating point 164 / 10 - 64 / 10 = 9.999999999999998 (and 41 / 2.5 - 16 / 2.5 likewise).
    start = round(6.4 * fps)
    assert (start + round(10 * fps)) / fps - start / fps < 10.0
    events = feed(FallTracker(NO_SMOOTHING), fps, [(6.4, UP), (12, LYING)])
    assert summary(events) == [("fall_started", 1, 6.4, "down"), ("long_lie", 1, 16.4, "alerted")]


# Lying 8 s, then up: at 10.0 the person has been down 10 s but is already getting up (below exit since 8.0),
# so no alert; recovered at 8.0 + 3 = 11.0 (11.2 at 2.5 fps).
@pytest.mark.parametrize(("fps", "recovered"), [(10, 11.0), (2.5, 11.2)])
def test_no_alert_while_getting_up(fps: float, recovered: float) -> None:
    events = feed(FallTracker(NO_SMOOTHING), fps, [(8, LYING), (6, UP)])
    assert summary(events) == [("fall_started", 1, 0.0, "down"), ("recovered", 1, recovered, "recovered")]


@pytest.mark.parametrize("fps", [10, 2.5])
def test_sitting_around_half_never_starts_a_fall(fps: float) -> None:
    pattern = [0.45, 0.55, 0.65, 0.68, 0.5, 0.35]  # sitting, bending: never reaches enter = 0.7
    tracker = FallTracker()
    events = []
    for i in range(int(60 * fps)):
        events += tracker.update(i / fps, [(1, pattern[i % len(pattern)], BOX)])
    assert events == []
    assert tracker.states()[1].state == "normal"


# Standing 2 s, lying 4 s (2.0 to 6.0), standing 10 s; smoothing 0.5 s.
# 10 fps: down at 2.6 (as above); at 5.9 the average is 0.95 - 0.85 exp(-8) = 0.9497; standing, j = 6 is the
#   first below 0.4 (0.1 + 0.8497 * 0.3012 = 0.356): t = 6.5, recovered at 9.5.
# 2.5 fps: down at 2.4; standing j = 2 (0.1 + 0.8497 * 0.2019 = 0.272): t = 6.4, recovered at >= 9.4: t = 9.6.
@pytest.mark.parametrize(("fps", "start", "recovered"), [(10, 2.6, 9.5), (2.5, 2.4, 9.6)])
def test_four_second_fall_and_get_up_gives_no_alert(fps: float, start: float, recovered: float) -> None:
    tracker = FallTracker(SLOW_FAST_PATH)
    events = feed(tracker, fps, [(2, UP), (4, LYING), (10, UP)])
    assert summary(events) == [("fall_started", 1, start, "down"), ("recovered", 1, recovered, "recovered")]


# The same four seconds down with the defaults (alert_after 2 s): the fall was seen (the box dropped at 2.0), so
# the camera alerts 2 s after the track turned down (2.6 + 2 = 4.6 at 10 fps, 2.4 + 2 = 4.4 at 2.5 fps), and the
# person getting up is reported as recovered at the same times as above.
@pytest.mark.parametrize(("fps", "start", "alert", "recovered"), [(10, 2.6, 4.6, 9.5), (2.5, 2.4, 4.4, 9.6)])
def test_by_default_a_seen_fall_alerts_two_seconds_after_turning_down(
    fps: float, start: float, alert: float, recovered: float
) -> None:
    events = feed(FallTracker(), fps, [(2, UP), (4, LYING), (10, UP)])
    assert summary(events) == [
        ("fall_started", 1, start, "down"),
        ("long_lie", 1, alert, "alerted"),
        ("recovered", 1, recovered, "recovered"),
    ]
    assert events[1].fall_seen and events[1].seconds_down == pytest.approx(2.0)


@pytest.mark.parametrize("fps", [10, 2.5])
def test_single_frame_flicker_does_not_start_a_fall(fps: float) -> None:
    # One frame at 0.9 among 0.1s moves the average to 0.1 + 0.8 * alpha: 0.245 at 10 fps, 0.541 at 2.5 fps.
    segments = [(2 - 1 / fps, UP), (1 / fps, 0.9)] * 10 + [(2, UP)]
    assert feed(FallTracker(), fps, segments) == []
    # Without smoothing the same sequence does start falls: it is the smoothing that ignores the flicker.
    unsmoothed = feed(FallTracker(NO_SMOOTHING), fps, segments)
    assert [e.kind for e in unsmoothed[:1]] == ["fall_started"]


# smoothing 0: lie 16 s (alert at 10.0), stand 4 s (below exit at 16.0, recovered 19.0, frame 19.2 at 2.5 fps),
# lie 60 s from 20.0: 10 s down at 30.0, but the cooldown holds the second alert until 10.0 + 60 = 70.0 (50 s
# down); stand from 80.0, recovered at 83.0 (83.2 at 2.5 fps).
@pytest.mark.parametrize(("fps", "first", "second"), [(10, 19.0, 83.0), (2.5, 19.2, 83.2)])
def test_second_alert_only_after_cooldown(fps: float, first: float, second: float) -> None:
    tracker = FallTracker(NO_SMOOTHING)
    events = feed(tracker, fps, [(16, LYING), (4, UP), (60, LYING), (4, UP)])
    assert summary(events) == [
        ("fall_started", 1, 0.0, "down"),
        ("long_lie", 1, 10.0, "alerted"),
        ("recovered", 1, first, "recovered"),
        ("fall_started", 1, 20.0, "down"),
        ("long_lie", 1, 70.0, "alerted"),
        ("recovered", 1, second, "recovered"),
    ]
    assert events[4].seconds_down == pytest.approx(50.0)


@pytest.mark.parametrize("fps", [10, 2.5])
def test_person_who_stays_down_is_reported_again_every_cooldown(fps: float) -> None:
    tracker = FallTracker(NO_SMOOTHING)
    events = feed(tracker, fps, [(136, LYING)])
    assert [round(e.time, 6) for e in events if e.kind == "long_lie"] == [10.0, 70.0, 130.0]
    assert [e.seconds_down for e in events if e.kind == "long_lie"] == pytest.approx([10.0, 70.0, 130.0])


# Lying, visible 2 s, hidden 2 s, visible 10 s: the timer started at 0.0 keeps running, alert at 10.0.
@pytest.mark.parametrize("fps", [10, 2.5])
def test_track_hidden_two_seconds_keeps_its_timer(fps: float) -> None:
    tracker = FallTracker(NO_SMOOTHING)
    events = feed(tracker, fps, [(2, LYING), (2, None)])
    hidden = tracker.states()[1]
    assert hidden.state == "down" and hidden.last_seen == pytest.approx(2 - 1 / fps)
    assert hidden.seconds_down == pytest.approx(4 - 1 / fps)  # measured at the latest update
    events += feed(tracker, fps, [(10, LYING)], start=4.0)
    assert summary(events) == [("fall_started", 1, 0.0, "down"), ("long_lie", 1, 10.0, "alerted")]


# Lying, visible 2 s (last seen 1.9 / 1.6), hidden 6 s: dropped when unseen >= 5 s, at 6.9 (10 fps) or 6.8
# (2.5 fps, frames 6.4 then 6.8). Seen again at 8.0 it is a new track: down at 8.0, alert at 18.0.
@pytest.mark.parametrize(("fps", "lost"), [(10, 6.9), (2.5, 6.8)])
def test_track_hidden_six_seconds_is_forgotten(fps: float, lost: float) -> None:
    tracker = FallTracker(NO_SMOOTHING)
    events = feed(tracker, fps, [(2, LYING), (6, None), (12, LYING)])
    assert summary(events) == [
        ("fall_started", 1, 0.0, "down"),
        ("track_lost", 1, lost, "down"),
        ("fall_started", 1, 8.0, "down"),
        ("long_lie", 1, 18.0, "alerted"),
    ]
    assert events[1].seconds_down == pytest.approx(lost)


def test_long_gap_between_updates_forgets_before_the_new_sighting() -> None:
    tracker = FallTracker(NO_SMOOTHING)
    tracker.update(0.0, [(7, LYING, BOX)])
    events = tracker.update(6.0, [(7, LYING, BOX)])
    assert summary(events) == [("track_lost", 7, 6.0, "down"), ("fall_started", 7, 6.0, "down")]


# Track 1 lies from 0.0, track 2 stands 4 s then lies: each has its own timer and cooldown.
@pytest.mark.parametrize("fps", [10, 2.5])
def test_two_tracks_are_independent(fps: float) -> None:
    tracker = FallTracker(NO_SMOOTHING)
    other_box = (300.0, 40.0, 380.0, 240.0)
    events = []
    for i in range(round(20 * fps)):
        t = i / fps
        events += tracker.update(t, [(1, LYING, BOX), (2, UP if t < 4.0 else LYING, other_box)])
    assert summary(events) == [
        ("fall_started", 1, 0.0, "down"),
        ("fall_started", 2, 4.0, "down"),
        ("long_lie", 1, 10.0, "alerted"),
        ("long_lie", 2, 14.0, "alerted"),
    ]
    states = tracker.states()
    assert {k: (s.state, s.box) for k, s in states.items()} == {
        1: ("alerted", BOX),
        2: ("alerted", other_box),
    }
    assert states[1].seconds_down == pytest.approx(20 - 1 / fps)
    assert states[2].seconds_down == pytest.approx(16 - 1 / fps)


def test_recovered_becomes_normal_on_the_next_update() -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.0, recovery=1.0))
    feed(tracker, 10, [(2, LYING), (1, UP)])  # below exit at 2.0, recovered at 3.0 is the next frame
    assert tracker.states()[1].state == "down"
    assert summary(tracker.update(3.0, [(1, UP, BOX)])) == [("recovered", 1, 3.0, "recovered")]
    assert (tracker.states()[1].state, tracker.states()[1].seconds_down) == ("recovered", 0.0)
    assert tracker.update(3.1, []) == []
    assert tracker.states()[1].state == "normal"


def test_smoothed_probability_follows_time_not_frames() -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.5))
    tracker.update(0.0, [(1, 0.0, BOX)])
    tracker.update(0.5, [(1, 1.0, BOX)])  # one time constant: 1 - exp(-1) of the way
    assert tracker.states()[1].prob == pytest.approx(1 - math.exp(-1))


def test_timestamps_must_not_go_backwards() -> None:
    tracker = FallTracker()
    tracker.update(5.0, [])
    tracker.update(5.0, [])  # a repeated timestamp is allowed
    with pytest.raises(ValueError, match=r"timestamp 4\.5 is earlier than the previous one 5\.0"):
        tracker.update(4.5, [])
    with pytest.raises(ValueError, match="not a finite number"):
        tracker.update(float("nan"), [])


def test_bad_observations_are_skipped_and_counted() -> None:
    tracker = FallTracker(NO_SMOOTHING)
    events = tracker.update(
        0.0,
        [
            (1, 1.5, BOX),
            (2, float("nan"), BOX),
            (3, 0.9, (0, 0, 1)),
            ("4", 0.9, BOX),
            (5, 0.2, BOX),
            (5, 0.9, BOX),
        ],
    )
    assert events == []
    assert dict(tracker.skipped) == {
        "fall_prob is not a number in [0, 1]": 2,
        "box is not 4 finite numbers (x1, y1, x2, y2)": 1,
        "track_id is not an integer": 1,
        "track_id appears twice in one frame": 1,
    }
    assert list(tracker.states()) == [5] and tracker.states()[5].prob == 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enter": 0.4, "exit": 0.7}, "need 0 <= exit < enter <= 1"),
        ({"enter": 1.2}, "need 0 <= exit < enter <= 1"),
        ({"alert_after": -1.0}, r"alert_after=-1\.0"),
        ({"smoothing": float("inf")}, "smoothing=inf"),
        ({"forget_after": 0.0}, "would drop every track"),
        ({"fall_drop": 0.0}, r"fall_drop=0\.0: must be a share of the box height in \(0, 1\]"),
        ({"fall_drop": 1.5}, r"fall_drop=1\.5"),
        ({"fall_window": -1.0}, r"fall_window=-1\.0"),
        ({"fall_lookback": float("nan")}, "fall_lookback=nan"),
    ],
)
def test_config_rejects_meaningless_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FallStateConfig(**kwargs)


# smoothing 0, 10 fps. Found down (lying from the first frame): the alert waits found_down_after = 30 s, at 30.0.
# Seen falling (1 s up first, down at 1.0): alert_after = 10 s, at 11.0. Found down, up at 16.0 (recovered 19.0),
# down again at 20.0: that fall was seen, so it alerts at 30.0.
@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([(40, LYING)], [("fall_started", 1, 0.0, "down"), ("long_lie", 1, 30.0, "alerted")]),
        ([(1, UP), (20, LYING)], [("fall_started", 1, 1.0, "down"), ("long_lie", 1, 11.0, "alerted")]),
        (
            [(16, LYING), (4, UP), (12, LYING)],
            [
                ("fall_started", 1, 0.0, "down"),
                ("recovered", 1, 19.0, "recovered"),
                ("fall_started", 1, 20.0, "down"),
                ("long_lie", 1, 30.0, "alerted"),
            ],
        ),
    ],
)
def test_a_track_found_down_waits_found_down_after(segments: list, expected: list) -> None:
    assert summary(feed(FallTracker(FOUND_DOWN), 10, segments)) == expected


def test_found_down_after_shorter_than_alert_after_is_an_error() -> None:
    from fallkd_lib.errors import UsageError

    with pytest.raises(UsageError, match="found_down_after=5.0 < alert_after=10.0"):
        FallStateConfig(alert_after=10.0, found_down_after=5.0)


# Track 1 walks (up) 2 s at BOX, then disappears; track 2 appears lying at 2.0 (the tracker switched ids as the
# box turned wide). Overlap with BOX (100 x 200): LOW (60..160, 180..230; 100 x 50) shares 50 x 40 = 2000 of
# the smaller 5000: 0.4 >= HANDOVER, so track 2 takes over track 1's recent boxes: its top at 180 is 160 px
# below BOX's top at 1.9 s (>= 0.4 x 200), so the fall was seen: alert at 2.0 + 10. FAR shares nothing: no fall
# seen, alert at 2.0 + 30 = 32.0.
LOW, FAR = (60.0, 180.0, 160.0, 230.0), (400.0, 180.0, 500.0, 230.0)


@pytest.mark.parametrize(("box", "alert"), [(LOW, 12.0), (FAR, 32.0)])
def test_a_new_track_born_down_on_a_track_seen_up_inherits_the_seen_fall(box, alert: float) -> None:
    tracker = FallTracker(FOUND_DOWN)
    events = []
    for i in range(400):
        t = i / 10
        obs = [(1, UP, BOX)] if t < 2.0 else [(2, LYING, box)]
        events += tracker.update(t, obs)
    assert [(e.kind, e.track_id, round(e.time, 6)) for e in events if e.kind != "track_lost"][:2] == [
        ("fall_started", 2, 2.0),
        ("long_lie", 2, alert),
    ]


# Defaults, smoothing 0, 10 fps. Track 1 stands 2 s at BOX, then lies at DOWN_BOX (a seen fall): down 2.0, alert
# at 2.0 + 2 = 4.0. From 6.0 the tracker calls the same lying person track 2, at the same box: it takes over the
# drop (seen, down 6.0, due at 8.0) and the alert at 4.0, so the cooldown holds it until 4.0 + 60 = 64.0. A new
# track at FAR is someone else found down: its own alert after 30 s, at 36.0.
@pytest.mark.parametrize(("box", "second"), [(DOWN_BOX, 64.0), (FAR, 36.0)])
def test_a_new_id_on_an_alerted_person_waits_for_the_cooldown(box, second: float) -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.0))
    events = []
    for i in range(700):
        t = i / 10
        obs = [(1, UP, BOX)] if t < 2.0 else [(1, LYING, DOWN_BOX)] if t < 6.0 else [(2, LYING, box)]
        events += tracker.update(t, obs)
    assert [(e.track_id, round(e.time, 6)) for e in events if e.kind == "long_lie"] == [(1, 4.0), (2, second)]


# The same alerted track 1 keeps lying at DOWN_BOX; track 3 is a smaller box on that person (PART, inside
# DOWN_BOX), called upright. From 6.0 track 3 is gone and track 2, lying at PART, is born on both: it takes track
# 3's boxes (the best overlap, no drop: the slow path, due at 6.0 + 30 = 36.0) and track 1's alert (4.0), so it
# waits for the cooldown; at 64.0 track 1 (first in the frame) reminds, and track 2, overlapping it, does not.
PART = (100.0, 170.0, 200.0, 220.0)


def test_a_second_box_on_an_alerted_person_waits_for_the_cooldown() -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.0))
    events = []
    for i in range(700):
        t = i / 10
        first = (1, UP, BOX) if t < 2.0 else (1, LYING, DOWN_BOX)
        events += tracker.update(t, [first, (3, UP, PART) if t < 6.0 else (2, LYING, PART)])
    assert [(e.track_id, round(e.time, 6)) for e in events if e.kind == "long_lie"] == [(1, 4.0), (1, 64.0)]


# Two boxes on one person found lying from t = 0 (DOWN_BOX and PART inside it) reach the slow path's 30 s in the
# same frame: one alert (the first track of the frame), not two. A second person at FAR alerts on their own.
def test_two_tracks_on_one_person_due_together_alert_once() -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.0))
    events = []
    for i in range(350):
        events += tracker.update(i / 10, [(1, LYING, DOWN_BOX), (2, LYING, PART), (3, LYING, FAR)])
    assert [(e.track_id, round(e.time, 6)) for e in events if e.kind == "long_lie"] == [(1, 30.0), (3, 30.0)]


# Defaults, smoothing 0, 10 fps. Track 1 falls at 2.0 (BOX -> DOWN_BOX) and alerts at 4.0. Track 2 stands beside
# them at NEXT_UP and falls at 10.0 to NEXT_DOWN: its boxes cover 0.4 of DOWN_BOX (80 x 60 of 200 x 60), above
# HANDOVER but under SAME_PERSON, so it is someone else: its own alert at 10.0 + 2 = 12.0, not held until 64.0.
NEXT_UP, NEXT_DOWN = (130.0, 20.0, 230.0, 220.0), (130.0, 160.0, 330.0, 220.0)


def test_a_neighbour_who_falls_beside_an_alerted_person_alerts_at_once() -> None:
    tracker = FallTracker(FallStateConfig(smoothing=0.0))
    events = []
    for i in range(200):
        t = i / 10
        first = (1, UP, BOX) if t < 2.0 else (1, LYING, DOWN_BOX)
        events += tracker.update(t, [first, (2, UP, NEXT_UP) if t < 10.0 else (2, LYING, NEXT_DOWN)])
    assert [(e.track_id, round(e.time, 6)) for e in events if e.kind == "long_lie"] == [(1, 4.0), (2, 12.0)]


# Track 1 falls at 2.0 (BOX -> DOWN_BOX) and alerts at 4.0. A second, looser box on the same lying person (HALF:
# 100 x 60 of DOWN_BOX's 200 x 60, an overlap of 0.5, under SAME_PERSON) becomes track 2 at `born`; born on track 1
# (>= HANDOVER) it takes over the seen fall and is due 2 s later. Born at 2.5 it is due at 4.5, 0.5 s after track
# 1's alert: the same fall, one alert (then track 1's reminder at 4.0 + 60). Born at 3.6 it is due at 5.6, 1.6 s
# after, more than fall_window (1.5 s): it alerts, and from then on the two share one cooldown: track 1 takes
# track 2's alert as its own (it is that recent) and reminds once, at 5.6 + 60.
HALF = (110.0, 150.0, 310.0, 230.0)


@pytest.mark.parametrize(
    ("born", "alerts"), [(2.5, [(1, 4.0), (1, 64.0)]), (3.6, [(1, 4.0), (2, 5.6), (1, 65.6)])]
)
def test_a_second_loose_box_on_a_fall_just_alerted_is_the_same_fall(born: float, alerts: list) -> None:
    from fallkd_lib.edge.fall_state import HANDOVER, SAME_PERSON
    from fallkd_lib.runtime.state import _overlap

    assert _overlap(DOWN_BOX, HALF) == pytest.approx(0.5) and HANDOVER <= 0.5 < SAME_PERSON
    tracker = FallTracker(FallStateConfig(smoothing=0.0))
    events = []
    for i in range(700):
        t = i / 10
        obs = [(1, UP, BOX) if t < 2.0 else (1, LYING, DOWN_BOX)] + (
            [(2, LYING, HALF)] if t >= born - 1e-9 else []
        )
        events += tracker.update(t, obs)
    assert [(e.track_id, round(e.time, 6)) for e in events if e.kind == "long_lie"] == alerts


def test_overlap_is_intersection_over_the_smaller_box() -> None:
    from fallkd_lib.runtime.state import _overlap

    assert _overlap(BOX, LOW) == pytest.approx(0.4) and _overlap(LOW, BOX) == pytest.approx(0.4)
    assert _overlap(BOX, FAR) == 0.0 and _overlap(BOX, (20.0, 30.0, 40.0, 50.0)) == 1.0  # contained


def feed_boxes(tracker: FallTracker, fps: float, seconds: float, prob_at, box_at) -> list[FallEvent]:
    """Feed track 1 for `seconds`: prob_at(t) and box_at(t) give each frame's fall probability and box."""
    events: list[FallEvent] = []
    for i in range(round(seconds * fps)):
        t = i / fps
        events += tracker.update(t, [(1, prob_at(t), box_at(t))])
    return events


def sliding(t0: float, seconds: float, top0: float, top1: float):
    """A box (10, top, 110, 220) whose top moves linearly from top0 at t0 to top1 at t0 + seconds."""

    def box_at(t: float) -> tuple[float, float, float, float]:
        share = min(max((t - t0) / seconds, 0.0), 1.0)
        return (10.0, top0 + share * (top1 - top0), 110.0, 220.0)

    return box_at


# smoothing 0, 10 fps, lying prob from 4.0. The top goes from 20 to 120 (100 px = 0.5 of the 200 px height):
# in 0.5 s (t 3.0 to 3.5), it falls 0.5 of the height within fall_window = 1.5 s: a fall seen, alert at 4 + 10.
# Over 3 s (sitting down slowly): 33.3 px a second, 50 px = 0.25 of the height < 0.4 within any 1.5 s: the
# slow path, alert at 4 + 30. A 0.5 s drop of only 60 px (0.3 of the height) is no fall either.
@pytest.mark.parametrize(
    ("seconds", "top1", "alert", "seen"),
    [(0.5, 120.0, 14.0, True), (3.0, 120.0, 34.0, False), (0.5, 80.0, 34.0, False)],
)
def test_only_a_fast_deep_drop_of_the_box_is_a_seen_fall(seconds, top1, alert, seen) -> None:
    tracker = FallTracker(FOUND_DOWN)
    events = feed_boxes(
        tracker, 10, 40, lambda t: LYING if t >= 4.0 else UP, sliding(3.0, seconds, 20.0, top1)
    )
    assert [(e.kind, round(e.time, 6), e.fall_seen) for e in events] == [
        ("fall_started", 4.0, seen),
        ("long_lie", alert, seen),
    ]


# smoothing 0, 10 fps; the box drops in one frame at `drop`, the classifier says lying from 8.0 (it lags).
# fall_lookback = 5: a drop at 3.0 (5.0 s before) is still the seen fall (alert at 8 + 10 = 18.0); at 2.9 it is
# not (the slow path: 8 + 30 = 38.0). fall_window = 1.5: a drop up to 9.5 counts from turning down (18.0); a later
# one, while the track is down, is the fall and the fast wait counts from it: 9.6 + 10 = 19.6, 20.0 + 10 = 30.0.
# A drop at 30.0 would be due at 40.0, after the slow path's 38.0, which comes first.
@pytest.mark.parametrize(
    ("drop", "alert"), [(3.0, 18.0), (2.9, 38.0), (9.5, 18.0), (9.6, 19.6), (20.0, 30.0), (30.0, 38.0)]
)
def test_the_drop_counts_from_fall_lookback_before_turning_down_to_any_time_while_down(drop, alert) -> None:
    tracker = FallTracker(FOUND_DOWN)

    def box_at(t: float) -> tuple[float, float, float, float]:
        return DOWN_BOX if t >= drop - 1e-9 else BOX

    events = feed_boxes(tracker, 10, 45, lambda t: LYING if t >= 8.0 else UP, box_at)
    assert [(e.kind, round(e.time, 6), e.fall_seen) for e in events] == [
        ("fall_started", 8.0, 3.0 <= drop <= 8.0),  # a later drop is seen after the event
        ("long_lie", alert, drop >= 3.0),
    ]


# Seen on a real camera: a woman standing with her head above the frame's top edge is a box of legs, which the
# classifier calls down from the first frame; 2 s later she falls. The default settings (alert_after 2 s), 5 fps.
# A new track starts at its first probability (0.95 >= enter 0.7): down at 0.0. The box top slides from 20 to 120
# over 2.0-2.6 s (frames at 53.3, 86.7, 120); a drop is measured against the earlier box's 200 px height, so the
# frame at 2.6 completes it (100 px >= 0.4 * 200; 2.4's 66.7 px does not): the fall, seen at 2.6, alerts at 4.6.
# Before, the drop had to come within fall_window of turning down (by 1.5): the slow path, 30.0.
def test_a_track_called_down_before_its_fall_alerts_two_seconds_after_the_drop() -> None:
    tracker = FallTracker(FallStateConfig())
    events = feed_boxes(tracker, 5, 35, lambda t: LYING, sliding(2.0, 0.6, 20.0, 120.0))
    assert [(e.kind, round(e.time, 6), e.fall_seen) for e in events] == [
        ("fall_started", 0.0, False),
        ("long_lie", 4.6, True),
    ]


# A seen fall, recovered, then down again without a drop (the box stays low): the second fall is not seen.
# smoothing 0, 10 fps: up 2 s, lying 4 s (drop at 2.0; down 2.0), up prob 4 s at DOWN_BOX (below exit at 6.0,
# recovered 9.0), lying again from 10.0 at DOWN_BOX: no drop near 10.0, so it waits 30 s: alert at 40.0.
def test_a_fall_seen_once_does_not_speed_up_the_next_one() -> None:
    tracker = FallTracker(FOUND_DOWN)

    def prob_at(t: float) -> float:
        return LYING if 2.0 <= t < 6.0 or t >= 10.0 else UP

    events = feed_boxes(tracker, 10, 45, prob_at, lambda t: BOX if t < 2.0 else DOWN_BOX)
    assert [(e.kind, round(e.time, 6), e.fall_seen) for e in events] == [
        ("fall_started", 2.0, True),
        ("recovered", 9.0, True),  # the fall it recovered from was seen
        ("fall_started", 10.0, False),
        ("long_lie", 40.0, False),
    ]
