"""The price table: US dollars per million tokens by model family, what every run is charged at."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of each kind the model API reports."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, tokens: Mapping[str, int]) -> float:
        """The dollars a usage record (the relay's token counts) costs at this price."""
        return (
            tokens.get("input_tokens", 0) * self.input
            + tokens.get("output_tokens", 0) * self.output
            + tokens.get("cache_creation_input_tokens", 0) * self.cache_write
            + tokens.get("cache_read_input_tokens", 0) * self.cache_read
        ) / PER_MILLION

    def dearest_per_token(self) -> float:
        """The highest price of one token: converting dollars to tokens with it never overspends."""
        return max(self.input, self.output, self.cache_write, self.cache_read) / PER_MILLION


# Anthropic's list prices per family. A model whose name matches no family is priced as the
# dearest one, so an unknown model can never spend more than its budget allows.
DEFAULT_PRICES: dict[str, Price] = {
    "opus": Price(input=15.0, output=75.0, cache_write=18.75, cache_read=1.5),
    "sonnet": Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.3),
    "haiku": Price(input=0.8, output=4.0, cache_write=1.0, cache_read=0.08),
}
# With no model configured the CLI uses its default, a Sonnet model.
DEFAULT_FAMILY = "sonnet"


def family_of(model: str, families: Mapping[str, Price] = DEFAULT_PRICES) -> str:
    """The price table's family for a model name (`claude-sonnet-4-5` is `sonnet`)."""
    if not model:
        return DEFAULT_FAMILY if DEFAULT_FAMILY in families else dearest(families)
    lowered = model.lower()
    for family in families:
        if family in lowered:
            return family
    return dearest(families)


def dearest(families: Mapping[str, Price]) -> str:
    return max(families, key=lambda name: families[name].dearest_per_token())


def price_for(model: str, families: Mapping[str, Price] = DEFAULT_PRICES) -> Price:
    return families[family_of(model, families)]


def run_price(
    model: str, also_allowed: Iterable[str] = (), families: Mapping[str, Price] = DEFAULT_PRICES
) -> Price:
    """The price of a run's tokens: its model's, or the dearest of the other models the relay
    lets runs use (the relay counts tokens, not which model wrote them, so this never undercharges)."""
    prices = [price_for(name, families) for name in (model, *also_allowed)]
    return max(prices, key=Price.dearest_per_token)


def parse_prices(text: str) -> dict[str, Price]:
    """`{"family": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}` merged
    over the defaults; raises ValueError saying what is wrong."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object of model families")
    prices = dict(DEFAULT_PRICES)
    for family, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != {
            "input",
            "output",
            "cache_write",
            "cache_read",
        }:
            raise ValueError(
                f"{family!r} needs exactly input, output, cache_write and cache_read prices"
            )
        prices[family.lower()] = Price(**{k: float(v) for k, v in entry.items()})
    return prices
