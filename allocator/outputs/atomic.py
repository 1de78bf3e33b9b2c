"""Writing outputs so that none is lost: a folder or a file is complete or not there at all,
an existing one is replaced only with --force (never one that is or holds the run's inputs),
two runs cannot write the same target at once, and a run stopped half-way leaves the old
output as it was.

How: the output is written into a hidden sibling, `.NAME.allocator-tmp-PID-XXXXXXXX`, and
moved into place in one rename, all under an flock on `.NAME.allocator-lock` beside the
target. A run killed with SIGKILL leaves its temporary behind; the next run on the same
target recognises it by that name and removes it. SIGTERM unwinds like Ctrl-C, so nothing
is left. New folders and files get the usual modes (0777/0666 less the umask).
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import AllocatorError

try:
    import fcntl
except ImportError:  # Windows has no flock: targets are not locked there
    fcntl = None

__all__ = ["atomic_folder", "atomic_files", "atomic_write_text", "check_target", "check_files",
           "holds"]

TMP = ".allocator-tmp-"  # .NAME.allocator-tmp-PID-XXXXXXXX: a run's output being written
OLD = ".allocator-old-"  # .NAME.allocator-old-PID-XXXXXXXX: an old folder set aside (fallback)
LOCK = ".allocator-lock"  # .NAME.allocator-lock: held while a run writes NAME


# --- checks ---------------------------------------------------------------------------------


def _abs(path: str | Path) -> Path:
    """Absolute, with `.` and `..` resolved (Path('.').name is ''), the last part kept as
    given: a symbolic link is replaced as a link, never followed."""
    path = Path(os.path.abspath(path))
    return Path(os.path.realpath(path.parent)) / path.name if path.name else path


def holds(outer: str | Path, inner: str | Path) -> bool:
    """Whether `inner` is `outer` or lies inside it (either way round a link)."""
    o = _abs(outer)
    return any(p == o or o in p.parents
               for p in {_abs(inner), Path(os.path.realpath(inner))})


def _names(out: str | Path, option: str) -> tuple[str, str]:
    """How messages name the target ('--out plans/q1') and the way out ('another --out')."""
    return (f"{option} {out}", f"another {option}") if option else (str(out), "another name")


def check_target(out: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = (),
                 option: str = "--out", folder: bool = True) -> None:
    """Refuse a target that must not or cannot be written: one that is or holds an input, a
    folder holding the current one, one that exists (unless `force`), a file where a folder
    goes or the reverse, a place that is read-only. Commands call it before their work to
    fail fast; the writers call it again under the lock, where it counts."""
    where, another = _names(out, option)
    target = _abs(out)
    if folder and holds(target, os.getcwd()):
        raise AllocatorError(f"{where}: is the current folder or holds it, which is never "
                             f"replaced, even with --force; choose {another} (a new folder "
                             f"such as {Path(out) / 'plan'})")
    for given in inputs:
        if holds(target, given):
            what = ("is the input {}, which is never overwritten" if _abs(given) == target
                    else "contains the input {}; a folder holding an input is never replaced")
            raise AllocatorError(f"{where}: {what.format(given)}, even with --force; "
                                 f"choose {another}")
    if os.path.lexists(target):
        if folder and not target.is_dir():
            raise AllocatorError(f"{where}: is a file, not a folder; choose {another}")
        if not folder and target.is_dir():
            raise AllocatorError(f"{where}: is a folder; give a file name")
        if not force:
            raise AllocatorError(f"{where}: already exists; choose {another} or add --force "
                                 "to replace it")
        if folder and not os.access(target, os.W_OK | os.X_OK):
            raise AllocatorError(f"{where}: is a read-only folder, which --force cannot "
                                 f"replace; make it writable or choose {another}")
    place = target.parent
    while not place.exists():  # the nearest folder that exists is where the writing starts
        place = place.parent
    if not place.is_dir():
        raise AllocatorError(f"{where}: {place} is a file, not a folder; choose {another}")
    if not os.access(place, os.W_OK | os.X_OK):
        raise AllocatorError(f"{where}: cannot write in {place} (read-only); choose a folder "
                             "you can write to")


def check_files(folder: str | Path, names: Sequence[str], *, force: bool = False,
                inputs: Iterable[str | Path] = (), option: str = "--out") -> None:
    """`check_target` for files `names` written into `folder`, which may exist and hold
    other files."""
    where, another = _names(folder, option)
    if os.path.lexists(folder) and not Path(folder).is_dir():
        raise AllocatorError(f"{where}: is a file, not a folder; choose {another}")
    taken = [name for name in names if os.path.lexists(Path(folder) / name)]
    if taken and not force:
        raise AllocatorError(f"{where}: {', '.join(taken)} already "
                             f"{'exists' if len(taken) == 1 else 'exist'}; choose {another} "
                             "or add --force to replace them")
    for name in names:
        check_target(Path(folder) / name, force=True, inputs=inputs, option=option,
                     folder=False)


# --- the writers ----------------------------------------------------------------------------


@contextmanager
def atomic_folder(out: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = (),
                  option: str = "--out") -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; when the block ends without error it
    takes `out`'s place in one step (an existing `out` only with `force`), otherwise it is
    removed and `out` is as it was. `inputs` are never replaced nor deleted; `option` names
    the target in messages."""
    with _writing(out, force=force, inputs=list(inputs), option=option, folder=True) as tmp:
        yield tmp


def atomic_write_text(path: str | Path, text: str, *, force: bool = False,
                      inputs: Iterable[str | Path] = (), option: str = "--out") -> Path:
    """Write `text` to `path` all at once (see `atomic_folder`)."""
    with _writing(path, force=force, inputs=list(inputs), option=option, folder=False) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_files(folder: str | Path, names: Sequence[str], *, force: bool = False,
                 inputs: Iterable[str | Path] = (), option: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder in which to write the files `names`; when the block ends
    without error they move into `folder` (made if missing; files of other names in it are
    left alone), replacing files of the same names only with `force`, otherwise none does.
    Locked and cleaned up as the set's first file."""
    inputs = list(inputs)
    folder = Path(folder)
    check_files(folder, names, force=force, inputs=inputs, option=option)
    first = _abs(folder / names[0])
    where, another = _names(folder, option)
    with _sigterm_unwinds(), _os_errors(where):
        first.parent.mkdir(parents=True, exist_ok=True)
        with _lock(first, where, another):
            _clean_leftovers(first)
            check_files(folder, names, force=force, inputs=inputs, option=option)
            tmp = _new_temp(first, folder=True)
            try:
                yield tmp
                with _signals_deferred():  # the set moves in whole
                    for name in names:
                        _place(tmp / name, first.parent / name, force=force,
                               where=_names(folder / name, option)[0], another=another)
            finally:
                _remove(tmp)


@contextmanager
def _writing(out: str | Path, *, force: bool, inputs: list, option: str,
             folder: bool) -> Iterator[Path]:
    """The one way every output is written: check, lock, check again under the lock, write
    into a temporary, move it into place."""
    check_target(out, force=force, inputs=inputs, option=option, folder=folder)
    target = _abs(out)
    where, another = _names(out, option)
    with _sigterm_unwinds(), _os_errors(where):
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock(target, where, another):
            _clean_leftovers(target)
            check_target(out, force=force, inputs=inputs, option=option, folder=folder)
            tmp = _new_temp(target, folder=folder)
            try:
                yield tmp
                with _signals_deferred():
                    _place(tmp, target, force=force, where=where, another=another)
            finally:
                _remove(tmp)  # gone when placed; the old output after a swap


# --- the lock, temporaries and leftovers ----------------------------------------------------


@contextmanager
def _lock(target: Path, where: str, another: str) -> Iterator[None]:
    """Hold an exclusive flock on .NAME.allocator-lock. A second run on the same target is
    refused at once rather than left waiting on a run that may take minutes. The file is
    removed on release (a run that had opened it finds it gone and locks the new one); one
    left by a killed run is taken over, since the kernel dropped that run's lock."""
    if fcntl is None:
        yield
        return
    path = target.parent / f".{target.name}{LOCK}"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise AllocatorError(f"{where}: another allocator run{pid} is writing it now; "
                                 f"wait for it to finish or choose {another}") from None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # removed by the run that released it: lock the file there now
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)  # for the message above
        yield
    finally:
        with suppress(OSError):
            os.unlink(path)  # while still held, so no one holds a removed file unknowingly
        os.close(fd)


def _new_temp(target: Path, *, folder: bool) -> Path:
    """A new hidden sibling of `target` named so the next run can recognise a leftover; a
    folder is made (mode 0777 less the umask, as mkdir makes any), a file is left to make."""
    while True:
        path = target.parent / f".{target.name}{TMP}{os.getpid()}-{secrets.token_hex(4)}"
        if not folder:
            return path
        with suppress(FileExistsError):
            os.mkdir(path)
            return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _clean_leftovers(target: Path) -> None:
    """Remove the temporaries killed runs left beside `target`, and put back an old folder
    set aside by a run killed between its two renames (the fallback in `_swap`). Only a lock
    holder makes these, so none is in use; a live pid is spared all the same, in case the
    file system does not honour the lock."""
    stem = f".{target.name}"
    for entry in sorted(os.listdir(target.parent)):
        for tag in (TMP, OLD):
            if entry.startswith(stem + tag):
                pid = entry[len(stem + tag):].split("-")[0]
                if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                    continue
                path = target.parent / entry
                if tag == OLD and not os.path.lexists(target):
                    os.rename(path, target)
                else:
                    _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            path.unlink()


# --- moving into place ----------------------------------------------------------------------


def _place(tmp: Path, target: Path, *, force: bool, where: str, another: str) -> None:
    """Move the finished temporary onto `target` in one step. Without force it never lands
    on a target that appeared meanwhile (made by a program that takes no lock): os.rename
    alone would silently replace a file or an empty folder."""
    if not force or not os.path.lexists(target):
        try:
            _rename_noreplace(tmp, target)
            return
        except FileExistsError:
            if not force:
                raise AllocatorError(f"{where}: was created by another program while this "
                                     f"run was writing; choose {another} or add --force to "
                                     "replace it") from None
    if tmp.is_dir():
        _swap(tmp, target)
    else:
        os.replace(tmp, target)


def _rename_noreplace(src: Path, dst: Path) -> None:
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    # no renameat2 here: the check leaves open only the instant between the two calls
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def _swap(tmp: Path, target: Path) -> None:
    """Exchange the new folder and the old one in one step; `tmp` then holds the old one
    (removed by the caller)."""
    if _renameat2(tmp, target, _RENAME_EXCHANGE):
        return
    # no atomic exchange here: set the old folder aside first; a run killed between the two
    # renames leaves it aside, and the next run on the target puts it back
    aside = target.parent / f".{target.name}{OLD}{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    _remove(aside)


_AT_FDCWD, _RENAME_NOREPLACE, _RENAME_EXCHANGE = -100, 1, 2


def _load_renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # Linux, glibc 2.28+ or musl
    except (AttributeError, OSError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()


def _renameat2(src: Path, dst: Path, flag: int) -> bool:
    """renameat2(2) with `flag`; False where the system or the file system lacks it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flag) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


# --- errors and signals ---------------------------------------------------------------------


@contextmanager
def _os_errors(where: str) -> Iterator[None]:
    """A system error while writing (no space, no permission) as one line naming the target."""
    try:
        yield
    except OSError as exc:
        file = f" ({exc.filename})" if exc.filename else ""
        raise AllocatorError(f"{where}: cannot write: {exc.strerror or exc}{file}; choose a "
                             "place you can write to") from None


class _Terminated(BaseException):
    """SIGTERM while writing: it unwinds like Ctrl-C, so the temporaries are removed."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into an exception while writing, then end the process by that signal once
    the temporaries are gone. Left alone off the main thread or where the application has a
    handler of its own (and within an outer writer, which has already set it)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def unwind(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None  # only if the signal is blocked
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM and Ctrl-C while a finished output moves into place, so that it moves
    whole; they take effect just after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
