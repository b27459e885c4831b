"""Shared pieces for the plugin's own tests: a SynQ counter, a Vyper token, and how to load the plugin."""
from importlib.metadata import entry_points

import pytest

# Imported here, before any pytester run: pytester drops modules first imported inside a run,
# and re-importing py-evm, web3 and SynQ for every sample suite would cost seconds each time.
import aivm_pytest.local  # noqa: F401
import aivm_pytest.network  # noqa: F401
import aivm_pytest.plugin  # noqa: F401
import hypothesis  # noqa: F401

try:  # SynQ is being written alongside: if it is broken right now, its tests say so, not collection
    import synq  # noqa: F401
except Exception:  # pragma: no cover
    pass

# With the pytest11 entry point installed the plugin loads itself; `-p` would register it twice.
INSTALLED = any(ep.name == "aivm" for ep in entry_points(group="pytest11"))
PLUGIN = [] if INSTALLED else ["-p", "aivm_pytest.plugin"]

COUNTER = """\
error TooBig(value: uint256, limit: uint256);
event Bumped(by: indexed address, value: uint256);

public storage count: uint256;
public storage owner: address;

constructor(start: uint256) {
    count = start;
    owner = msg.sender;
}

external fn bump() -> uint256 {
    count += 1;
    emit Bumped(msg.sender, count);
    return count;
}

external fn set(value: uint256) {
    require(msg.sender == owner, "only the owner");
    if (value > 1000) {
        revert TooBig(value, 1000);
    }
    count = value;
}

external fn down() {
    count -= 1;
}

external payable fn deposit() {
}

external fn stamp() -> uint256 {
    return block.timestamp;
}
"""

TOKEN_VY = """\
# pragma version 0.4.3
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

balanceOf: public(HashMap[address, uint256])

@deploy
def __init__(supply: uint256):
    self.balanceOf[msg.sender] = supply

@external
def transfer(to: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "insufficient balance"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=msg.sender, receiver=to, value=amount)
    return True

@external
@view
def pair(a: uint256) -> (uint256, address):
    return a * 2, msg.sender
"""


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the sample suite in pytester's folder with the plugin loaded."""
    # the plugin module is already imported (above), so pytest cannot assert-rewrite it: fine
    return pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A temp project holding Counter.synq and Token.vy."""
    pytester.makefile(".synq", Counter=COUNTER)
    pytester.makefile(".vy", Token=TOKEN_VY)
    return pytester
