"""How the README test reads a README: blocks, their kinds, command lines and what they say they print."""

from __future__ import annotations

import pytest

from tests.readme.readme_blocks import Kind, UnknownBlockError, parse_blocks

README = """# A project

```bash
make setup   # the venv
# a comment line is not a command

localcloud send --count 3 \\
  --wait   # prints "sent 3 message(s)"
sam local invoke F   # prints '{"batchItemFailures": []}'
```

```bash not-run: it takes an hour
make soak
```

```text
output, not commands
```
"""


def test_blocks_come_in_order_with_their_kind_and_lines() -> None:
    blocks = parse_blocks(README)
    assert [(block.number, block.line, block.kind) for block in blocks] == [
        (1, 3, Kind.RUN), (2, 12, Kind.NOT_RUN), (3, 16, Kind.DATA)]
    assert blocks[1].reason == "it takes an hour"


def test_comments_are_skipped_continuations_joined_and_prints_read() -> None:
    (setup, send, invoke) = parse_blocks(README)[0].commands
    assert (setup.line, setup.prints) == ("make setup   # the venv", None)
    assert send.words == ["localcloud", "send", "--count", "3", "--wait"]
    assert send.prints == "sent 3 message(s)"
    assert invoke.prints == '{"batchItemFailures": []}'


@pytest.mark.parametrize("info", ["", "sh", "bash skip", "bash not-run:"])
def test_an_unknown_info_string_is_an_error_that_says_what_to_write(info: str) -> None:
    (block,) = parse_blocks(f"```{info}\nmake demo\n```\n")
    with pytest.raises(UnknownBlockError, match=r"bash docker|says why"):
        _ = block.kind


def test_a_block_never_closed_is_an_error() -> None:
    with pytest.raises(UnknownBlockError, match="never closed"):
        parse_blocks("```bash\nmake demo\n")
