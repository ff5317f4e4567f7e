"""Per-track fall state: smooth each person's fall probability and raise a long-lie alert when they stay down.

Every person the tracker follows has a small state machine, driven by the classifier's fall probability::

    normal --(smoothed >= enter)--> down --(down for alert_after s)--> alerted
      ^                              |                                    |
      |                              +----(below exit for recovery s)-----+--> recovered --(next update)--> normal

A fall is an event, not a pose, so there are two alert paths. The fast one (alert_after) needs the fall to have
been seen: the track's box dropped fast (its top edge fell by at least fall_drop of the box's height within
fall_window seconds, as a body does in the second or so a fall takes) at most fall_lookback seconds before the track
turned down, or while it is down. The classifier can call someone down before they fall (a standing person cut off
by the frame's top edge, someone crouching); a drop later than fall_window after the track turned down is then the
fall, and the fast wait counts from it. Every other down track takes the slow, long-lie path
(found_down_after): someone found already down, someone who sat or lay down slowly on purpose, or a still object
the detector takes for a lying person. A classifier that mistakes a sitter for a fallen person therefore costs a
late alert, not a quick false one, and a fall the geometry misses still alerts, later.
Trackers often give a person a new id exactly when they fall (a tall box turns wide) or while they lie, so a new
track whose first box overlaps, by at least HANDOVER of the smaller box, the last box of a live track takes over
that track's recent boxes and the time of its last drop (the fall was seen, under the other id). One person is
one alert per cooldown: a track due to alert does not while another live track overlapping it by at least
SAME_PERSON (the same person under an older id, or a second box on them) alerted less than cooldown seconds ago, and
a new track takes over the latest alert of the tracks it was born on that closely. The share is higher than
HANDOVER's, which must bridge a box that changes shape as someone falls, so that a neighbour who falls beside an
alerted person, boxes overlapping, is still reported at once. Only within fall_window of an alert does HANDOVER's
share make two tracks one person: a detector that puts two loose boxes on one lying person (overlapping by half,
say) turns both tracks down within the moment a fall takes, and one fall is one alert.

All durations are in seconds of the stream's own clock (capture time, or frame_index / fps), never in frames,
so one configuration works at 30 fps on a desktop and at 2.5 fps on a busy Jetson.

The settings are any object with FallStateConfig's fields as attributes (fallkd_lib.config.FallStateConfig on the
host, `settings` built from pipeline.json in the bundle). Python 3.6; no numpy needed.
"""

import collections
import logging
import math
import numbers

from .errors import UsageError

_log = logging.getLogger(__name__)

STATES = ("normal", "down", "alerted", "recovered")
EVENT_KINDS = ("fall_started", "long_lie", "recovered", "track_lost")
STATE_FIELDS = (
    "smoothing",
    "enter",
    "exit",
    "alert_after",
    "found_down_after",
    "fall_drop",
    "fall_window",
    "fall_lookback",
    "cooldown",
    "recovery",
    "forget_after",
)  # FallStateConfig's fields, in order (a test checks they agree)
HANDOVER = 0.3  # overlap (share of the smaller box) that hands a live track's recent boxes to a new one
SAME_PERSON = 0.7  # overlap above which two live tracks are one person (same box, or one inside it)
_EPS = 1e-6  # seconds; frame times like 126 / 10 are not exact in binary, so "12.6 - 2.6 >= 10" needs slack

# Something that happened to one track: kind is one of EVENT_KINDS, state the track's state after it, prob the
# smoothed fall probability, seconds_down 0.0 when not down, fall_seen True on the fast path (the box dropped like
# a fall around the time the track turned down).
FallEvent = collections.namedtuple(
    "FallEvent", ["kind", "time", "track_id", "state", "prob", "seconds_down", "box", "fall_seen"]
)
FallEvent.__new__.__defaults__ = (False,)

# What to draw for one track: its state, smoothed probability, seconds down, last box and last sighting.
TrackSnapshot = collections.namedtuple("TrackSnapshot", ["state", "prob", "seconds_down", "box", "last_seen"])


class settings(object):
    """FallStateConfig's values as attributes, from a dict (pipeline.json's "state")."""

    def __init__(self, values):
        """Keep exactly STATE_FIELDS; a missing or unknown key is an error."""
        missing = [k for k in STATE_FIELDS if k not in values]
        unknown = [k for k in values if k not in STATE_FIELDS]
        if missing or unknown:
            raise UsageError("fall state settings: missing {}, unknown {}".format(missing, unknown))
        for key in STATE_FIELDS:
            setattr(self, key, float(values[key]))


class _Track(object):
    """One person's state between frames."""

    __slots__ = (
        "prob",
        "last_seen",
        "box",
        "state",
        "down_since",
        "below_since",
        "last_alert",
        "boxes",
        "dropped_at",
        "fall_seen",
        "fall_at",
    )

    def __init__(self, prob, last_seen, box):
        """A normal track seen once."""
        self.prob, self.last_seen, self.box, self.state = prob, last_seen, box, "normal"
        self.down_since = None
        self.below_since = None  # first time the smoothed prob fell below exit while down
        self.last_alert = None
        self.boxes = collections.deque()  # (time, top, height) of the boxes of the last fall_window seconds
        self.dropped_at = None  # the latest frame that completed a drop of fall_drop of the box height
        self.fall_seen = False  # the current fall was seen (a drop near or during down): the fast path
        self.fall_at = None  # when the seen fall's fast wait started: down_since, or a drop later while down


class FallTracker(object):
    """Follow every tracked person's fall probability over time and report falls, long lies and recoveries."""

    def __init__(self, config):
        """Start with no tracks; config has FallStateConfig's fields."""
        self.config = config
        self._tracks = {}
        self._now = None
        self.skipped = collections.Counter()  # bad observations, by reason

    @property
    def now(self):
        """The timestamp of the latest update (None before the first)."""
        return self._now

    def update(self, timestamp, observations):
        """Feed one frame: (track_id, fall_prob, box_xyxy) per visible person; return the events it caused."""
        t = float(timestamp)
        if not math.isfinite(t):
            raise UsageError("timestamp {!r} is not a finite number of seconds".format(timestamp))
        if self._now is not None and t < self._now:
            raise UsageError(
                "timestamp {!r} is earlier than the previous one {!r}: timestamps must not go backwards; pass the "
                "frame's capture time or frame_index / fps, and use a new FallTracker when a video "
                "restarts".format(t, self._now)
            )
        self._now = t
        events = []
        for track in self._tracks.values():
            if track.state == "recovered":
                track.state = "normal"
        for track_id in sorted(self._tracks):
            track = self._tracks[track_id]
            if t - track.last_seen >= self.config.forget_after - _EPS:
                events.append(self._event("track_lost", t, track_id, track))
                del self._tracks[track_id]
        seen = set()
        for obs in observations:
            parsed = self._parse(obs, seen)
            if parsed is None:
                continue
            track_id, prob, box = parsed
            seen.add(track_id)
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = self._new_track(prob, t, box)
            else:
                track.prob += self._alpha(t - track.last_seen) * (prob - track.prob)
                track.last_seen, track.box = t, box
            self._note_drop(t, track)
            events.extend(self._step(t, track_id, track))
        return events

    def states(self):
        """A snapshot (TrackSnapshot) of every live track by id (seconds down measured at the latest update)."""
        now = self._now if self._now is not None else 0.0
        return {
            track_id: TrackSnapshot(
                track.state, track.prob, self._seconds_down(now, track), track.box, track.last_seen
            )
            for track_id, track in sorted(self._tracks.items())
        }

    def _alpha(self, dt):
        """How far one observation dt seconds after the last moves the average (1 = no smoothing)."""
        if self.config.smoothing <= 0:
            return 1.0
        return 1.0 - math.exp(-max(dt, 0.0) / self.config.smoothing)

    def _step(self, t, track_id, track):
        """Advance one track's state machine after a new observation."""
        cfg = self.config
        events = []
        started = track.state == "normal" and track.prob >= cfg.enter
        if started:
            track.state, track.down_since, track.below_since, track.fall_seen = "down", t, None, False
        if track.state not in ("down", "alerted"):
            return events
        self._check_fall_seen(track)
        if started:
            events.append(self._event("fall_started", t, track_id, track))
        if track.prob < cfg.exit:
            if track.below_since is None:
                track.below_since = t
            if t - track.below_since >= cfg.recovery - _EPS:
                track.state = "recovered"
                events.append(self._event("recovered", t, track_id, track))
                track.down_since = track.below_since = None
                track.fall_seen = False
                return events
        else:
            track.below_since = None
        assert track.down_since is not None
        long_enough = t - track.down_since >= cfg.found_down_after - _EPS or (
            track.fall_seen and t - track.fall_at >= cfg.alert_after - _EPS
        )
        if track.below_since is None and long_enough:
            track.last_alert = self._last_alert_on(track, t)
        cooled = track.last_alert is None or t - track.last_alert >= cfg.cooldown - _EPS
        if track.below_since is None and long_enough and cooled:
            track.state, track.last_alert = "alerted", t
            events.append(self._event("long_lie", t, track_id, track))
        return events

    def _new_track(self, prob, t, box):
        """A new track; it takes over the recent boxes and last drop of the live track it overlaps most, and the
        latest alert of every live track on the same person (overlap at least SAME_PERSON of the smaller box)."""
        track = _Track(prob, t, box)
        overlaps = [(_overlap(other.box, box), key) for key, other in self._tracks.items()]
        best = max(overlaps, default=(0.0, None))
        if best[0] >= HANDOVER:
            other = self._tracks[best[1]]
            track.boxes, track.dropped_at = collections.deque(other.boxes), other.dropped_at
        track.last_alert = self._last_alert_on(track, t)
        return track

    def _last_alert_on(self, track, t):
        """The latest alert of this track or of a live track on the same person, or None: one overlapping it by
        SAME_PERSON, or by HANDOVER with an alert at most fall_window ago (a second box on the same fall)."""
        alerts = [track.last_alert]
        for other in self._tracks.values():
            if other is track or other.last_alert is None:
                continue
            share = _overlap(other.box, track.box)
            recent = t - other.last_alert <= self.config.fall_window + _EPS
            if share >= SAME_PERSON or (share >= HANDOVER and recent):
                alerts.append(other.last_alert)
        return max([a for a in alerts if a is not None], default=None)

    def _note_drop(self, t, track):
        """Remember the track's box top and height; note the frame that completes a drop fast enough for a fall
        (once: the boxes before it are forgotten, so the same drop is not noted again on the next frames)."""
        cfg, (_, top, _, bottom) = self.config, track.box
        boxes = track.boxes
        while boxes and t - boxes[0][0] > cfg.fall_window + _EPS:
            boxes.popleft()
        if any(top - earlier >= cfg.fall_drop * height - _EPS for _, earlier, height in boxes):
            track.dropped_at = t
            boxes.clear()
        boxes.append((t, top, bottom - top))

    def _check_fall_seen(self, track):
        """Mark a down track's fall as seen when its box dropped from fall_lookback before it turned down to now;
        the fast wait counts from turning down, or from the drop when that came over fall_window later."""
        cfg, dropped, since = self.config, track.dropped_at, track.down_since
        if track.fall_seen or dropped is None or since is None or dropped < since - cfg.fall_lookback - _EPS:
            return
        track.fall_seen = True
        track.fall_at = since if dropped <= since + cfg.fall_window + _EPS else dropped

    @staticmethod
    def _seconds_down(t, track):
        """Seconds since the track's fall started (0.0 when it is not down)."""
        return 0.0 if track.down_since is None else max(t - track.down_since, 0.0)

    def _event(self, kind, t, track_id, track):
        """Build an event from a track's current values."""
        seconds_down = self._seconds_down(t, track)
        return FallEvent(kind, t, track_id, track.state, track.prob, seconds_down, track.box, track.fall_seen)

    def _parse(self, obs, seen):
        """Validate one observation; a bad one is skipped, counted in self.skipped and logged."""
        reason = None
        try:
            track_id, prob, box = obs
        except (TypeError, ValueError):
            track_id, prob, box, reason = None, None, None, "not a (track_id, fall_prob, box_xyxy) tuple"
        if reason is None and (not isinstance(track_id, numbers.Integral) or isinstance(track_id, bool)):
            reason = "track_id is not an integer"
        if reason is None and not (isinstance(prob, numbers.Real) and 0.0 <= float(prob) <= 1.0):
            reason = "fall_prob is not a number in [0, 1]"
        if reason is None:
            try:
                coords = tuple(float(v) for v in box)
            except (TypeError, ValueError):
                coords = ()
            if len(coords) != 4 or not all(math.isfinite(v) for v in coords):
                reason = "box is not 4 finite numbers (x1, y1, x2, y2)"
        if reason is None and int(track_id) in seen:
            reason = "track_id appears twice in one frame"
        if reason is not None:
            self.skipped[reason] += 1
            level = logging.WARNING if self.skipped[reason] == 1 else logging.DEBUG
            _log.log(
                level,
                "skipped observation %r at t=%s: %s (so far: %s)",
                obs,
                self._now,
                reason,
                dict(self.skipped),
            )
            return None
        return int(track_id), float(prob), coords


def _overlap(a, b):
    """Intersection area over the smaller box's area (0.0 for disjoint or empty boxes)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if w > 0 and h > 0 and smaller > 0 else 0.0
