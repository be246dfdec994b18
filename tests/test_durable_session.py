"""The durable-rules wrapper: first match, all matches, isolation, and no state left behind."""

from __future__ import annotations

import threading

import pytest
from rolwijzer.engine.durable_session import DurableError, DurableRuleset

RULES = {
    "low": {"all": [{"m": {"$or": [{"a": "x"}, {"b": "y"}]}}], "pri": 1},
    "high": {"all": [{"m": {"a": "x"}}], "pri": 2},
    "number": {"all": [{"m": {"$gt": {"n": 8}}}], "pri": 3},
}


@pytest.fixture(scope="module")
def all_matches() -> DurableRuleset:
    return DurableRuleset("test-all", RULES, first_match=False)


@pytest.fixture(scope="module")
def first_match() -> DurableRuleset:
    return DurableRuleset("test-first", RULES, first_match=True)


class TestMatching:
    """Which rules a message reaches."""

    def test_every_matching_rule_is_reported_once_in_priority_order(self, all_matches: DurableRuleset) -> None:
        """A rule whose `$or` matches twice is reported once; order follows `pri`."""
        assert all_matches.matching_rules({"a": "x", "b": "y", "n": 9}) == ["low", "high", "number"]

    def test_first_match_reports_only_the_highest_priority_rule(self, first_match: DurableRuleset) -> None:
        """In first-match mode the event is consumed by the highest-priority matching rule."""
        assert first_match.matching_rules({"a": "x", "b": "n", "n": 9}) == ["low"]
        assert first_match.matching_rules({"a": "n", "b": "n", "n": 9}) == ["number"]

    def test_a_message_no_rule_matches_gives_an_empty_list(self, all_matches: DurableRuleset) -> None:
        """The catch-all rule handles it, so the engine stays sound, and it is not reported."""
        for _ in range(3):
            assert all_matches.matching_rules({"a": "n", "b": "n", "n": 1}) == []
        assert all_matches.matching_rules({"a": "x", "b": "n", "n": 1}) == ["low", "high"]

    @pytest.mark.parametrize("symbol", ["x", "café", "ĳs", "€"])
    def test_a_symbol_matches_itself_whatever_its_characters(self, symbol: str) -> None:
        """Messages and rules write a string alike, so a symbol outside ASCII matches the rule that names it."""
        ruleset = DurableRuleset("test-text", {"same": {"all": [{"m": {"a": symbol}}], "pri": 1}}, first_match=False)
        try:
            assert ruleset.matching_rules({"a": symbol}) == ["same"]
            assert ruleset.matching_rules({"a": symbol + "s"}) == []
        finally:
            ruleset.close()

    @pytest.mark.parametrize("number", [0.0, 1e-5, 0.0001, 0.5, 7.99, 8.0, 8.01, 1e15, 9999999999999998.0, 1e16, 2e20])
    def test_numbers_of_every_size_are_compared_as_numbers(self, all_matches: DurableRuleset, number: float) -> None:
        """Also those Python writes with an exponent, which durable-rules' parser does not read."""
        assert ("number" in all_matches.matching_rules({"a": "n", "b": "n", "n": number})) == (number > 8)


class TestSessions:
    """Sessions are per evaluation and never accumulate."""

    def test_fifty_thousand_evaluations_leave_no_state_behind(self, all_matches: DurableRuleset) -> None:
        """Without deleting state durable-rules fails after ~10,000 sessions; the wrapper deletes every one."""
        for i in range(50_000):
            message = {"a": "x" if i % 2 else "n", "b": "n", "n": i % 10}
            assert ("high" in all_matches.matching_rules(message)) == bool(i % 2)

    def test_threads_do_not_see_each_others_messages(self, all_matches: DurableRuleset) -> None:
        """8 threads with different messages each get the matches of their own message."""
        wrong: list[int] = []

        def worker(k: int) -> None:
            message = {"a": "x" if k % 2 else "n", "b": "y" if k % 3 == 0 else "n", "n": k}
            expected = all_matches.matching_rules(message)
            for _ in range(2_000):
                if all_matches.matching_rules(message) != expected:
                    wrong.append(k)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert wrong == []


class TestErrors:
    """Engine failures are raised as DurableError, not swallowed."""

    def test_an_invalid_ruleset_is_refused(self) -> None:
        """durable-rules cannot express a comparison written inside the attribute; the error names the set."""
        with pytest.raises(DurableError, match="bad-set"):
            DurableRuleset("bad-set", {"r": {"all": [{"m": {"n": {"$gt": 8}}}]}}, first_match=False)

    def test_the_catch_all_name_is_reserved(self) -> None:
        """A rule may not take the name of the catch-all rule."""
        with pytest.raises(DurableError, match="reserved"):
            DurableRuleset("reserved", {"_handled": {"all": [{"m": {"a": "x"}}]}}, first_match=False)
