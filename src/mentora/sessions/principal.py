"""`Principal`: who a live session says is asking, with the rows a request decides from."""

from __future__ import annotations

from dataclasses import dataclass

from mentora.db.models import Creator, Student, User, UserSession


@dataclass
class Principal:
    """Who is asking: their session, user, creator and (if any) student row."""

    session: UserSession
    user: User
    creator: Creator
    student: Student | None
    csrf_token: str

    @property
    def is_creator(self) -> bool:
        """True for the creator's team (Whop access level `admin`)."""
        return self.student is not None and self.student.access_level == "admin"
