"""Evaluation: compile rule sets into durable-rules and decide situations. Never imports grpc."""

from rolwijzer.engine.decision import Decision, Finding, MissingFact
from rolwijzer.engine.enumeration import TooManyCombinations
from rolwijzer.engine.evaluator import DEFAULT_MAX_COMBINATIONS, DeadlineExceeded, Engine, Known, Plan
from rolwijzer.engine.inputs import (
    BooleanInput,
    FactInput,
    InvalidFacts,
    MissingInput,
    NumberInput,
    OneOfInput,
    SetInput,
    SymbolInput,
    UnknownInput,
    Violation,
)
from rolwijzer.engine.report import Report, TextFinding, TextMissingFact, TextRule, UnsupportedLanguage, report
from rolwijzer.engine.stages import EvaluationError
from rolwijzer.engine.versions import CompiledStore, NoRuleSetInForce, RuleSetRef, Selection, UnknownVersion

__all__ = [
    "DEFAULT_MAX_COMBINATIONS",
    "BooleanInput",
    "CompiledStore",
    "DeadlineExceeded",
    "Decision",
    "Engine",
    "EvaluationError",
    "FactInput",
    "Finding",
    "InvalidFacts",
    "Known",
    "MissingFact",
    "MissingInput",
    "NoRuleSetInForce",
    "NumberInput",
    "OneOfInput",
    "Plan",
    "Report",
    "RuleSetRef",
    "Selection",
    "SetInput",
    "SymbolInput",
    "TextFinding",
    "TextMissingFact",
    "TextRule",
    "TooManyCombinations",
    "UnknownInput",
    "UnknownVersion",
    "UnsupportedLanguage",
    "Violation",
    "report",
]
