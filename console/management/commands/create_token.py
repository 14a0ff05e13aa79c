from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from streams.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API bearer token for a user and print it (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label for the token")
        parser.add_argument("--days", type=int, default=None, help="expire after this many days (default: never)")
        parser.add_argument(
            "--read-only", action="store_true", help="reads only: every write is refused, whatever the user's role"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        User = get_user_model()
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None
        token, raw = ApiToken.issue(user, options["name"], expires_at=expires_at, read_only=options["read_only"])
        self.stdout.write(raw)
        notes = [f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"]
        if token.read_only:
            notes.append("read-only")
        self.stderr.write(f"{token.prefix}… for {user.get_username()}: {', '.join(notes)}")
