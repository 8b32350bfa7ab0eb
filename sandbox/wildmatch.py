"""Git's wildmatch (the glob of `.gitignore`), run over a name once: no backtracking.

The patterns and the names both come from the repository or the agent, so a matcher that
backtracks (git's own, a regular expression translated from `a*a*a*a*b`) could be made to run
for a very long time by one long name. Here a pattern compiles to a small automaton whose live
states are the bits of one integer: each byte of the name costs a few integer operations, so a
match is linear in the name's length (times the pattern's, over machine words).

The syntax is git's with `WM_PATHNAME` (`wildmatch.c`): `?`, `*` and `[...]` never match `/`;
`**` matches across `/` only as a whole path component (`**/x`, `x/**`, `x/**/y`, where `/**/`
also matches a single `/`); `\\` escapes; classes take `!` or `^` for negation, ranges and
`[:alpha:]`-style names. A pattern git could never match (a trailing `\\`, an unterminated or
malformed class) matches nothing here either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SLASH = ord("/")
_ALL = frozenset(range(256))
_NOT_SLASH = _ALL - {SLASH}
_GLOB_SPECIAL = frozenset(b"*?[\\")

# The ASCII classes of git's sane_ctype, which wildmatch uses.
_CLASSES: dict[bytes, frozenset[int]] = {
    b"alnum": frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    b"alpha": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    b"blank": frozenset(b" \t"),
    b"cntrl": frozenset([*range(32), 127]),
    b"digit": frozenset(b"0123456789"),
    b"graph": frozenset(range(33, 127)),
    b"lower": frozenset(b"abcdefghijklmnopqrstuvwxyz"),
    b"print": frozenset(range(32, 127)),
    b"punct": frozenset(
        set(range(33, 127))
        - set(b"0123456789")
        - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        - set(b"abcdefghijklmnopqrstuvwxyz")
    ),
    b"space": frozenset(b" \t\n\v\f\r"),
    b"upper": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    b"xdigit": frozenset(b"0123456789ABCDEFabcdef"),
}


class _Never(Exception):
    """The pattern can match nothing (git answers WM_ABORT_ALL wherever it gets there)."""


class BudgetSpent(Exception):
    """A walk's matching has stepped over more bytes than it may."""


class MatchBudget:
    """How many bytes of names the automata may still step over (one walk shares one budget).

    Both the patterns and the names are the agent's, so the work of matching every name against
    every pattern is capped as a whole; a name that cannot hold a pattern's literal part costs
    nothing.
    """

    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise BudgetSpent


@dataclass
class _Automaton:
    """States in a row; state `i` consumes a byte and moves to `i + 1`, loops on itself, or
    passes on for free (to `i + 1` or, for `**/`, past the whole group)."""

    advances: list[frozenset[int]] = field(default_factory=list)
    loops: list[frozenset[int]] = field(default_factory=list)
    skip_one: int = 0  # states with a free move to the next state
    skip_group: int = 0  # `**/` entry states, with a free move over their three states
    required: bytes = b""  # the longest run of literal bytes: any match holds it as it is
    _run: bytearray = field(default_factory=bytearray)

    def literal(self, byte: int) -> None:
        run = self._run
        self.add(advance=frozenset({byte}))
        run.append(byte)
        self._run = run
        if len(self._run) > len(self.required):
            self.required = bytes(self._run)

    def add(self, advance: frozenset[int] = frozenset(), loop: frozenset[int] = frozenset()) -> int:
        self._run = bytearray()
        self.advances.append(advance)
        self.loops.append(loop)
        return 1 << (len(self.advances) - 1)


def _class(pattern: bytes, start: int) -> tuple[frozenset[int], int]:
    """The bytes `[...]` at `start` matches, and the index after its `]` (git's parse, exactly)."""
    p = start + 1
    end = len(pattern)

    def at(i: int) -> int:
        return pattern[i] if i < end else 0

    p_ch = at(p)
    negated = p_ch in (ord("!"), ord("^"))
    if negated:
        p += 1
        p_ch = at(p)
    members: set[int] = set()
    prev_ch = 0
    while True:
        if not p_ch:
            raise _Never
        if p_ch == ord("\\"):
            p += 1
            p_ch = at(p)
            if not p_ch:
                raise _Never
            members.add(p_ch)
        elif p_ch == ord("-") and prev_ch and at(p + 1) and at(p + 1) != ord("]"):
            p += 1
            p_ch = at(p)
            if p_ch == ord("\\"):
                p += 1
                p_ch = at(p)
                if not p_ch:
                    raise _Never
            members.update(range(prev_ch, p_ch + 1))
            p_ch = 0
        elif p_ch == ord("[") and at(p + 1) == ord(":"):
            s = p = p + 2
            while at(p) and at(p) != ord("]"):
                p += 1
            if not at(p):
                raise _Never
            name_length = p - s - 1
            if name_length < 0 or pattern[p - 1] != ord(":"):
                p = s - 2  # no ":]": an ordinary "[" member
                p_ch = ord("[")
                members.add(p_ch)
            else:
                name = pattern[s : s + name_length]
                if name not in _CLASSES:
                    raise _Never
                members.update(_CLASSES[name])
                p_ch = 0
        else:
            members.add(p_ch)
        prev_ch = p_ch
        p += 1
        p_ch = at(p)
        if p_ch == ord("]"):
            break
    chosen = (_ALL - members) if negated else frozenset(members)
    return chosen - {SLASH}, p + 1


def _compile(pattern: bytes) -> _Automaton:
    machine = _Automaton()
    i, end = 0, len(pattern)
    while i < end:
        byte = pattern[i]
        if byte == ord("\\"):
            if i + 1 >= end:
                raise _Never  # a trailing backslash
            machine.literal(pattern[i + 1])
            i += 2
        elif byte == ord("?"):
            machine.add(advance=_NOT_SLASH)
            i += 1
        elif byte == ord("["):
            members, i = _class(pattern, i)
            machine.add(advance=members)
        elif byte == ord("*"):
            stars_end = i
            while stars_end < end and pattern[stars_end] == ord("*"):
                stars_end += 1
            whole = (i == 0 or pattern[i - 1] == SLASH) and stars_end - i >= 2
            after = pattern[stars_end : stars_end + 2]
            if whole and after[:1] == b"/":
                # `**/`: nothing at all, or anything that ends in a slash.
                entry = machine.add()
                machine.skip_group |= entry
                machine.skip_one |= entry | machine.add(loop=_ALL)
                machine.add(advance=frozenset({SLASH}))
                i = stars_end + 1
            else:
                ends_component = stars_end == end or after == b"\\/"
                machine.skip_one |= machine.add(
                    loop=_ALL if whole and ends_component else _NOT_SLASH
                )
                i = stars_end
        else:
            machine.literal(byte)
            i += 1
    return machine


def _table(sets: list[frozenset[int]]) -> list[int]:
    """For each byte, the states whose set holds it (one pass per distinct set, not per state)."""
    states_of: dict[frozenset[int], int] = {}
    for index, members in enumerate(sets):
        if members:
            states_of[members] = states_of.get(members, 0) | 1 << index
    table = [0] * 256
    for members, states in states_of.items():
        for byte in members:
            table[byte] |= states
    return table


class Glob:
    """One compiled pattern; `matches(name)` walks `name` once."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        self._literal: bytes | None = None
        self._suffix: bytes | None = None
        self._never = False
        if not _GLOB_SPECIAL.intersection(pattern):
            self._literal = pattern
            return
        if pattern[:1] == b"*" and not _GLOB_SPECIAL.intersection(pattern[1:]):
            self._suffix = pattern[1:]
            return
        try:
            machine = _compile(pattern)
        except _Never:
            self._never = True
            return
        self._size = len(machine.advances)
        self._skip_one = machine.skip_one
        self._skip_group = machine.skip_group
        self._required = machine.required
        self._advance = _table(machine.advances)
        self._loop = _table(machine.loops)

    def _closure(self, states: int) -> int:
        while True:
            grown = states | ((states & self._skip_one) << 1) | ((states & self._skip_group) << 3)
            if grown == states:
                return states
            states = grown

    def matches(self, name: bytes, budget: MatchBudget | None = None) -> bool:
        """Whether the whole of `name` matches the pattern; automaton steps are charged to `budget`."""
        if self._literal is not None:
            return name == self._literal
        if self._suffix is not None:
            cut = len(name) - len(self._suffix)
            return cut >= 0 and name.endswith(self._suffix) and b"/" not in name[:cut]
        if self._never or self._required not in name:
            return False
        if budget is not None:
            budget.spend(len(name))
        advance, loop = self._advance, self._loop
        states = self._closure(1)
        for byte in name:
            states = ((states & advance[byte]) << 1) | (states & loop[byte])
            if not states:
                return False
            states = self._closure(states)
        return bool(states >> self._size & 1)


def wildmatch(pattern: bytes, name: bytes) -> bool:
    """Whether `name` matches `pattern` as git's `wildmatch(pattern, name, WM_PATHNAME)` says."""
    return Glob(pattern).matches(name)
