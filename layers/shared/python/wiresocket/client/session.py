"""The CLI's login session: access + refresh token for one control-plane URL, in a 0600 file.

Where it lives: an explicit ``--session-file``; else ``<state-dir>/session.json`` when a state directory
was named; else ``~/.wiresocket/session-<sha256(url)[:16]>.json``. A session is only ever used for the URL
it was issued for (a token is never sent to another host). It is refreshed transparently when the access
token has expired, under an exclusive file lock: two commands refreshing at once would otherwise present the
same refresh token twice, which the server treats as reuse and answers by revoking the whole family.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wiresocket.client.errors import AuthenticationError, LocalError
from wiresocket.client.oauth import TokenClient, TokenSet

EXPIRY_SKEW_SECONDS = 30.0
SESSION_FILE_NAME = "session.json"


@dataclass(frozen=True)
class Session:
    """A stored login. Never printed: ``__repr__`` leaves the tokens out."""

    url: str
    client_id: str
    username: str
    scope: str
    access_token: str
    expires_at: float
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"Session(url={self.url!r}, username={self.username!r}, scope={self.scope!r})"

    def with_tokens(self, tokens: TokenSet) -> Session:
        """This session after a refresh: new access token (and refresh token, if one was returned)."""
        return Session(
            url=self.url,
            client_id=self.client_id,
            username=self.username,
            scope=tokens.scope or self.scope,
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token or self.refresh_token,
        )

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split())


def default_session_path(url: str, *, state_dir: Path | None, home: Path | None = None) -> Path:
    """Where the session for ``url`` is kept when no ``--session-file`` was given."""
    if state_dir is not None:
        return state_dir / SESSION_FILE_NAME
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (home or Path.home()) / ".wiresocket" / f"session-{digest}.json"


def _session_from(data: Any) -> Session | None:
    if not isinstance(data, dict):
        return None
    try:
        session = Session(
            url=str(data["url"]),
            client_id=str(data["client_id"]),
            username=str(data["username"]),
            scope=str(data["scope"]),
            access_token=str(data["access_token"]),
            expires_at=float(data["expires_at"]),
            refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
        )
    except (KeyError, TypeError, ValueError):
        return None
    return session


def write_private_file(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), atomically.

    ``exclusive``: fail if ``path`` exists (used for one-time secrets, which must never overwrite a file).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)  # in case the file existed with other bits
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class SessionStore:
    """One session file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Session | None:
        """The stored session, or None if there is none (or it is unreadable as a session)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LocalError(f"cannot read session file {self.path}: {exc.strerror}") from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise LocalError(
                f"session file {self.path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}); "
                "delete it and log in again"
            )
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return _session_from(data)

    def save(self, session: Session) -> None:
        """Store ``session`` (mode 0600, atomic replace)."""
        try:
            write_private_file(self.path, json.dumps(asdict(session), indent=2) + "\n")
        except OSError as exc:
            raise LocalError(f"cannot write session file {self.path}: {exc.strerror}") from None

    def delete(self) -> bool:
        """Remove the session file; whether there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise LocalError(f"cannot delete session file {self.path}: {exc.strerror}") from None
        return True

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock across processes (a sibling ``.lock`` file), for refreshes."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LocalError(f"cannot lock session file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class SessionManager:
    """Hands out a valid access token for ``url``, refreshing the stored session when it has expired."""

    def __init__(
        self, store: SessionStore, url: str, tokens: TokenClient, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._url = url
        self._tokens = tokens
        self._clock = clock

    def current(self) -> Session:
        """The session for this URL (maybe expired); ``AuthenticationError`` if there is none."""
        session = self._store.load()
        if session is None or session.url != self._url:
            raise AuthenticationError(f"not logged in to {self._url}: run `wiresocket login`")
        return session

    def access_token(self) -> str:
        """A usable access token; refreshes (and stores) the session first if it has expired."""
        session = self.current()
        if not self._expired(session):
            return session.access_token
        with self._store.locked():
            session = self.current()  # another process may have refreshed it while we waited
            if not self._expired(session):
                return session.access_token
            if session.refresh_token is None:
                raise AuthenticationError("the session has expired: run `wiresocket login` again")
            try:
                refreshed = session.with_tokens(self._tokens.refresh(session.client_id, session.refresh_token))
            except AuthenticationError:
                self._store.delete()  # the family is dead; a stale file would only fail again
                raise AuthenticationError("the session can no longer be refreshed: run `wiresocket login`") from None
            self._store.save(refreshed)
            return refreshed.access_token

    def _expired(self, session: Session) -> bool:
        return self._clock() >= session.expires_at - EXPIRY_SKEW_SECONDS
