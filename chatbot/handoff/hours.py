"""Opening hours of a brand's human team, in the brand's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..brands import HoursSettings

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _clock_time(text: str) -> time:
    if text == "24:00":  # the end of the day
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class Hours:
    def __init__(self, settings: HoursSettings) -> None:
        self.zone = ZoneInfo(settings.timezone)
        self.days = set(settings.days)
        self.opens = _clock_time(settings.open)
        self.closes = _clock_time(settings.close)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return local.isoweekday() in self.days and self.opens <= local.time() < self.closes

    def next_opening(self, moment: datetime) -> datetime:
        """The next moment the team opens (UTC), or `moment` itself if open."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.zone)
        for offset in range(0, 8):
            day = (local + timedelta(days=offset)).date()
            opening = datetime.combine(day, self.opens, tzinfo=self.zone)
            if day.isoweekday() in self.days and opening > local:
                return opening.astimezone(UTC)
        raise ValueError("no opening day configured")

    def describe(self) -> str:
        days = sorted(self.days)
        span = (
            f"{DAY_NAMES[days[0] - 1]} to {DAY_NAMES[days[-1] - 1]}"
            if days == list(range(days[0], days[-1] + 1))
            else ", ".join(DAY_NAMES[d - 1] for d in days)
        )
        return f"{span} {self.opens:%H:%M} to {self.closes:%H:%M} ({self.zone.key})"

    def local_text(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{DAY_NAMES[local.weekday()]} {local:%H:%M} {self.zone.key} time"
