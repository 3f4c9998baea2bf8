"""Confine a sandbox child with the kernel before it touches an artifact, and say what held.

Each step needs no privilege and is applied where the kernel has it: no inherited descriptors; no
capabilities; an empty network namespace (root, or where user namespaces are allowed); Landlock, so
the child reads only its job's artifacts, its scratch directory and the Python installation and
writes only its scratch directory (with ABI 4 no TCP, with ABI 6 no signals or abstract sockets
outside it); seccomp, so sockets, new processes, exec, ptrace, namespaces, mounts, io_uring and IPC
objects fail with EPERM. `Protection` records which steps took, so a run can report it and refuse to go on
without the ones it requires (AIEFF_SANDBOX_REQUIRE).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import site
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

RESULT_FD = 3  # the only descriptor a child keeps besides /dev/null on 0, 1 and 2

# What AIEFF_SANDBOX_REQUIRE may name: protection -> what it means.
PROTECTIONS = {
    "filesystem": "Landlock: reads only the job's artifacts, its scratch directory and the Python "
    "installation; writes only its scratch directory",
    "network": "no sockets (seccomp) or an empty network namespace",
    "syscalls": "seccomp: no sockets, new processes, exec, ptrace, namespaces, mounts, io_uring, "
    "signals to other processes",
    "descriptors": "nothing inherited: /dev/null on 0-2 and the result pipe only",
    "disk": "writes only to a scratch directory whose total size the helper enforces",
    "limits": "rlimits: address space, CPU time, file size, no core dumps",
}


@dataclass
class Protection:
    """Which protections hold in this process, and one line saying how."""

    active: set[str] = field(default_factory=set)
    parts: list[str] = field(default_factory=list)

    def add(self, name: str | None, part: str) -> None:
        if name:
            self.active.add(name)
        self.parts.append(part)

    def summary(self) -> str:
        return ", ".join(self.parts) or "none"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def close_descriptors(keep: int) -> int:
    """Put /dev/null on 0-2 and `keep` on RESULT_FD, close every other descriptor; returns RESULT_FD."""
    import fcntl

    high = fcntl.fcntl(keep, fcntl.F_DUPFD, 64)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.dup2(high, RESULT_FD)
    try:
        open_fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(RESULT_FD + 1, 1 << 16))
    for fd in open_fds:
        if fd > RESULT_FD:
            try:
                os.close(fd)
            except OSError:
                pass
    return RESULT_FD


# --- network namespace and capabilities ----------------------------------------------------------

_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000


def leave_network() -> bool:
    """Move into a new, empty network namespace where the kernel allows it (root, or user namespaces)."""
    libc = _libc()
    return any(libc.unshare(flags) == 0 for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _has_capabilities() -> bool:
    try:
        with open("/proc/self/status") as fh:
            return any(line.startswith("CapEff:") and int(line.split()[1], 16) for line in fh)
    except OSError:
        return False


def drop_capabilities() -> bool:
    """Give up every capability (root's included); True when there were some and they are gone."""
    if not _has_capabilities():
        return False
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    return _libc().capset(ctypes.byref(header), ctypes.byref(data)) == 0 and not _has_capabilities()


# --- Landlock ------------------------------------------------------------------------------------

_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every architecture
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_DIR, _MAKE_REG = 1 << 4, 1 << 5, 1 << 7, 1 << 8
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | (1 << 15)  # what a rule on a file may grant
_READ = _READ_FILE | _READ_DIR
_SCRATCH = _READ | _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_DIR | _MAKE_REG | _REFER | _TRUNCATE
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # 5 on: ioctl
_NET_TCP = 1 | 2  # bind, connect
_SCOPES = 1 | 2  # abstract unix sockets, signals


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(*args: int | ctypes.c_void_p | None) -> int:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (too old, or not enabled at boot)."""
    return max(0, _syscall(_LANDLOCK_CREATE_RULESET, None, 0, 1))


def python_paths() -> list[str]:
    """What the Python installation spans: prefixes, site directories and the aieff package."""
    import aieff

    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, str(Path(aieff.__file__).parent)}
    paths |= {sysconfig.get_path(p) for p in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= set(site.getsitepackages())
    return sorted((paths | {os.path.realpath(p) for p in paths}) - {"/"})  # a prefix of / would allow everything


SYSTEM_READ = (
    "/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime",
    "/dev/urandom", "/dev/random", "/dev/zero", "/proc/self", "/proc/cpuinfo", "/proc/meminfo",
    "/sys/devices/system/cpu", "/sys/devices/system/node",
)  # fmt: skip


def handled_rights(abi: int) -> tuple[int, int, int]:
    """The file, TCP and scope rights a ruleset handles at this ABI: every one the ABI has (a kernel
    refuses a ruleset naming rights newer than its own)."""
    return _FS_RIGHTS_BY_ABI.get(abi, (1 << 16) - 1), _NET_TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0


def landlock(files: list[str], scratch: str | None, abi: int | None = None) -> tuple[int, str]:
    """Restrict this process to reading `files`, the Python installation and SYSTEM_READ, and to
    writing only beneath `scratch`; returns (ABI, what it handles), (0, "") where Landlock is absent.
    Artifact files that are symlinks (or not regular files) get no rule, so they cannot be read.
    `abi` uses an older ABI than the kernel's (tests: what an older kernel would enforce)."""
    abi = min(abi or 99, landlock_abi())
    if abi < 1:
        return 0, ""
    fs, net, scoped = handled_rights(abi)
    attr = _RulesetAttr(fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _syscall(_LANDLOCK_CREATE_RULESET, ctypes.c_void_p(ctypes.addressof(attr)), size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(p, _READ, False) for p in [*python_paths(), *SYSTEM_READ]]
        rules += [(os.devnull, _READ_FILE | _WRITE_FILE | _TRUNCATE, False)]
        rules += [(f, _READ_FILE, True) for f in files]
        if scratch:
            rules.append((scratch, _SCRATCH, False))
        for path, rights, artifact in rules:
            _add_rule(ruleset, path, rights & fs, artifact)
        _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if _syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    handled = ["filesystem"] + (["tcp"] if net else []) + (["signals", "abstract sockets"] if scoped else [])
    return abi, "+".join(handled)


def _add_rule(ruleset: int, path: str, rights: int, artifact: bool) -> None:
    """Allow `rights` beneath `path`; a path that is absent, or that the kernel refuses a rule on, stays
    inaccessible (so a failure here can only take access away)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC | (os.O_NOFOLLOW if artifact else 0))
    except OSError:
        return  # absent here (e.g. /lib64 on aarch64): nothing to allow
    try:
        mode = os.fstat(fd).st_mode
        if artifact and not (mode & 0o170000 == 0o100000):
            return
        if not (mode & 0o170000 == 0o040000):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _syscall(_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.c_void_p(ctypes.addressof(rule)), 0)  # refused: no access
    finally:
        os.close(fd)


# --- seccomp -------------------------------------------------------------------------------------

# Syscalls a job never needs, by name: (x86_64 number, aarch64 number), None where the arch has none.
# System V and POSIX IPC objects would outlive the job; the rest would leave the sandbox.
DENIED = {
    "socket": (41, 198), "socketpair": (53, 199), "fork": (57, None), "vfork": (58, None), "execve": (59, 221),
    "execveat": (322, 281), "tkill": (200, 130), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "unshare": (272, 97), "setns": (308, 268), "open_by_handle_at": (304, 265), "init_module": (175, 105),
    "finit_module": (313, 273), "kexec_load": (246, 104), "kexec_file_load": (320, 294), "add_key": (248, 217),
    "request_key": (249, 218), "keyctl": (250, 219), "bpf": (321, 280), "userfaultfd": (323, 282),
    "perf_event_open": (298, 241), "iopl": (172, None), "ioperm": (173, None), "shmget": (29, 194),
    "semget": (64, 190), "msgget": (68, 186), "mq_open": (240, 180), "pidfd_send_signal": (424, 424),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "pidfd_open": (434, 434), "pidfd_getfd": (438, 438),
    "mount_setattr": (442, 442),
}  # fmt: skip
# Allowed only for a thread (clone), or for a signal to this process (pid or tgid first).
SPECIAL = {"clone": (56, 220), "clone3": (435, 435), "kill": (62, 129), "tgkill": (234, 131),
           "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240)}  # fmt: skip
ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}  # column in the tables, AUDIT_ARCH
_CLONE_THREAD = 0x00010000

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_ERRNO = 0x00050000


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(arch: str, pid: int) -> list[tuple[int, int, int, int]] | None:
    """The BPF filter: deny the listed syscalls with EPERM, clone3 with ENOSYS (libc falls back to
    clone), clone unless it makes a thread, signals to any process but this one; kill the process on
    a foreign ABI (x32, i386). None for an architecture whose syscall numbers are not listed here."""
    if arch not in ARCHES:
        return None
    column, audit = ARCHES[arch]
    number = {name: numbers[column] for name, numbers in SPECIAL.items()}
    eperm = (_RET, 0, 0, _ERRNO | errno.EPERM)
    prog = [(_LD_W_ABS, 0, 0, 4), (_JEQ, 1, 0, audit), (_RET, 0, 0, _KILL), (_LD_W_ABS, 0, 0, 0)]
    if arch == "x86_64":
        prog += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _KILL)]  # the x32 ABI

    def block(nr: int, body: list[tuple[int, int, int, int]]) -> None:
        prog.append((_JEQ, 0, len(body), nr))
        prog.extend(body)

    for numbers in DENIED.values():
        if (nr := numbers[column]) is not None:
            block(nr, [eperm])
    block(number["clone3"], [(_RET, 0, 0, _ERRNO | errno.ENOSYS)])
    arg0 = (_LD_W_ABS, 0, 0, 16)  # the low 32 bits of the first argument (little-endian)
    block(number["clone"], [arg0, (_JSET, 0, 1, _CLONE_THREAD), (_RET, 0, 0, _ALLOW), eperm])
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        block(number[name], [arg0, (_JEQ, 0, 1, pid), (_RET, 0, 0, _ALLOW), eperm])
    prog.append((_RET, 0, 0, _ALLOW))
    return prog


def seccomp() -> bool:
    """Install the filter of `seccomp_program` on this (single-threaded) process; False where it cannot."""
    prog = seccomp_program(platform.machine(), os.getpid())
    if prog is None:
        return False
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def confine(files: list[str], scratch: str | None) -> Protection:
    """Apply every step this kernel allows, in the order that lets each work; say which held."""
    done = Protection()
    done.add("descriptors", "descriptors closed")
    if leave_network():
        done.add("network", "network namespace")
    if drop_capabilities():
        done.add(None, "capabilities dropped")
    abi, handled = landlock(files, scratch)
    if abi:
        done.add("filesystem", f"landlock abi {abi} ({handled})")
        done.add("disk", "disk bounded")  # writable: the scratch directory (size enforced) or nothing
    if seccomp():
        done.add("syscalls", "seccomp (no sockets, processes, exec, ptrace, mounts)")
        done.active.add("network")  # no socket of any family can be made
    return done
