"""kernel/signals: signal names and numbers as docker spells them, without the IntEnum wrapper."""
import signal as stdlib_signal

import pytest

from minidocker.kernel import signals


@pytest.mark.parametrize("text, num", [("TERM", 15), ("SIGTERM", 15), ("term", 15), ("15", 15), (9, 9),
                                       ("SIGRTMIN", stdlib_signal.SIGRTMIN), ("64", 64)])
def test_number_reads_dockers_spellings(text, num):
    assert signals.number(text) == num


@pytest.mark.parametrize("text", ["NOPE", "SIG", "0", "65", "99", "-1", "١٥", ""])
def test_number_refuses_the_rest(text):
    with pytest.raises(ValueError):
        signals.number(text)


def test_names_match_the_stdlib_enum_and_cover_realtime_numbers():
    for sig in stdlib_signal.Signals:
        assert signals.name(sig) == sig.name              # SIGABRT, not SIGIOT; SIGIO, not SIGPOLL
    assert signals.name(35) == "SIG35"                    # no name (between SIGRTMIN and SIGRTMAX)
