import pytest

from serving.stop_text import StopText


def fed(stops, pieces):
    stop_text = StopText(stops)
    out = [stop_text.feed(p) for p in pieces]
    return out, stop_text.flush(), stop_text.hit


def test_without_stops_text_passes_straight_through():
    assert fed((), ["a", "b"]) == (["a", "b"], "", False)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_a_stop_split_across_pieces_is_cut_whatever_the_split(size):
    text = "Hello END world"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    out, rest, hit = fed(("END",), pieces)
    assert "".join(out) + rest == "Hello " and hit


def test_only_a_possible_start_of_a_stop_is_held_back():
    stop_text = StopText(("</s>",))
    assert stop_text.feed("a <") == "a "  # "<" may start "</s>"
    assert stop_text.feed("b") == "<b"  # it did not
    assert stop_text.feed("</") == ""
    assert stop_text.flush() == "</"  # the stream ended: it was text after all


def test_the_earliest_of_several_stops_wins_and_nothing_follows():
    out, rest, hit = fed(("\n\n", "User:"), ["x User: y\n\nz", "more"])
    assert out == ["x ", ""] and rest == "" and hit
