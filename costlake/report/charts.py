"""The report's charts: Altair (Vega-Lite) specs rendered to inline SVG by vl-convert, offline.

SVG drawn here needs no script and no network in the page, prints sharply and can be checked
in a browser for being non-empty. Colours are the Okabe-Ito palette (distinguishable with the
common colour-vision deficiencies); money axes carry their currency's symbol, never a bare number
of unknown unit, and one chart never mixes currencies.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import vl_convert

# Okabe & Ito (2008), "Color Universal Design": eight colours safe for colour-blind readers.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
WIDTH = 640
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def symbol(currency: str) -> str:
    """The prefix money of ``currency`` is printed with: a sign, or the code and a space."""
    return SYMBOLS.get(currency, f"{currency} ")


def _money_axis(title: str, currency: str) -> alt.Axis:
    prefix = symbol(currency).replace("'", "\\'")
    return alt.Axis(title=title, labelExpr=f"'{prefix}' + format(datum.value, ',.2~f')")


def _data(frame: pl.DataFrame) -> alt.Data:
    """Rows as plain JSON values (dates as ISO text) so the spec carries its own data."""
    temporal = [n for n, t in frame.schema.items() if t in (pl.Date, pl.Datetime)]
    return alt.Data(values=frame.with_columns(pl.col(temporal).cast(pl.String)).to_dicts())


def _render(chart: alt.TopLevelMixin) -> str:
    spec = chart.configure(font=FONT).configure_view(stroke=None).to_dict()
    return vl_convert.vegalite_to_svg(spec)


def _colour(field: str, title: str, domain: list[str]) -> alt.Color:
    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=domain, range=list(PALETTE[: len(domain)])),
        legend=alt.Legend(orient="top"),
    )


def daily_spend_chart(daily: pl.DataFrame, currency: str, events: pl.DataFrame | None) -> str:
    """Stacked bars of one currency's daily spend per provider; the anomaly events' peak days
    marked with a rule and a label above."""
    rows = daily.filter(pl.col("currency") == currency)
    providers = sorted(rows["provider"].unique().to_list())
    bars = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("day:T", title="day", axis=alt.Axis(format="%d %b", labelAngle=0)),
            y=alt.Y(
                "sum(cost):Q", stack="zero", axis=_money_axis(f"BilledCost ({currency})", currency)
            ),
            color=_colour("provider", "provider", providers),
            tooltip=["day:T", "provider:N", alt.Tooltip("cost:Q", format=",.2f")],
        )
    )
    layers = [bars]
    if events is not None and events.height:
        marks = events.filter(pl.col("currency") == currency).select(
            pl.col("peak_day").alias("day"), "series", "severity"
        )
        if marks.height:
            layers.append(
                alt.Chart(_data(marks))
                .mark_rule(color="#D55E00", strokeDash=[4, 3], strokeWidth=1.5)
                .encode(x="day:T", tooltip=["day:T", "series:N", "severity:N"])
            )
    return _render(alt.layer(*layers).properties(width=WIDTH, height=220))


def bar_chart(
    frame: pl.DataFrame, label: str, value: str, currency: str, title: str, label_title: str
) -> str:
    """Horizontal bars of ``value`` per ``label`` in one currency, largest first."""
    rows = frame.filter(pl.col("currency") == currency)
    order = rows.sort(value, descending=True)[label].to_list()
    chart = (
        alt.Chart(_data(rows))
        .mark_bar(color=PALETTE[0])
        .encode(
            y=alt.Y(f"{label}:N", sort=order, title=label_title, axis=alt.Axis(labelLimit=260)),
            x=alt.X(f"{value}:Q", axis=_money_axis(title, currency)),
            tooltip=[f"{label}:N", alt.Tooltip(f"{value}:Q", format=",.2f")],
        )
        .properties(width=WIDTH - 260, height=alt.Step(18))
    )
    return _render(chart)


def stacked_parts_chart(
    frame: pl.DataFrame, label: str, parts: dict[str, str], currency: str, title: str
) -> str:
    """Horizontal bars per ``label`` split into ``parts`` (column: legend name), one currency."""
    rows = frame.filter(pl.col("currency") == currency)
    long = rows.unpivot(index=label, on=list(parts), variable_name="part", value_name="cost")
    long = long.with_columns(pl.col("part").replace_strict(parts))
    chart = (
        alt.Chart(_data(long))
        .mark_bar()
        .encode(
            y=alt.Y(f"{label}:N", title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("sum(cost):Q", stack="zero", axis=_money_axis(title, currency)),
            color=_colour("part", "", list(parts.values())),
            order=alt.Order("part:N"),
            tooltip=[f"{label}:N", "part:N", alt.Tooltip("cost:Q", format=",.2f")],
        )
        .properties(width=WIDTH - 260, height=alt.Step(22))
    )
    return _render(chart)


def budget_chart(budgets: pl.DataFrame, currency: str) -> str:
    """Per budget in one currency: spend to date as a bar, the forecast as a tick, the amount
    as a rule."""
    rows = budgets.filter(pl.col("currency") == currency)
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("budget:N", title=None, axis=alt.Axis(labelLimit=260))
    )
    chart = alt.layer(
        base.mark_bar(color=PALETTE[0]).encode(
            x=alt.X("actual:Q", axis=_money_axis(f"spend to date ({currency})", currency))
        ),
        base.mark_tick(color=PALETTE[1], thickness=3, size=18).encode(x="forecast:Q"),
        base.mark_tick(color=PALETTE[7], thickness=2, size=22).encode(x="amount:Q"),
    ).properties(width=WIDTH - 260, height=alt.Step(26))
    return _render(chart)
