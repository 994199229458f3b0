"""ISO 4217 allow-list with per-currency amount limits.

For every supported currency this module owns: its minor units, the
per-transaction maximum and the ``HIGH_VALUE`` fraud threshold, both in the
currency's own major units. Only active, circulating currencies are listed (no
fund codes such as CLF/UYW, no precious metals or testing codes such as
XAU/XTS), which is what a card payment can be denominated in.

Limits are USD-equivalent tiers, so "10,000" means the same risk in every
currency (JPY 10,001 is about USD 65; KWD 9,000 is about USD 29,000):

* ``HIGH_VALUE`` threshold  ~ USD 10,000
* maximum per transaction   ~ USD 1,000,000 (the platform's former flat maximum)

Each is ``tier x units-per-USD`` rounded half-up to ONE significant digit
(e.g. JPY 10,000 x 155 = 1,550,000 -> 2,000,000), so a value is never more
than about 35 % away from its USD tier and small rate moves do not change it.
All rounded values are whole major units, so they respect every currency's
minor units. Settings override any of them per currency (``payment_limits``,
see :mod:`payments_core.limits`).

Rates (``USD_RATES``, units of the currency per 1 USD) are approximate
mid-market levels of November 2025, compiled by hand without a live feed:
official pegs where a currency has one (AED, SAR, HKD, BAM, XOF/XAF/KMF/XPF/
CVE/STN via the euro at ~0.862 EUR/USD, ...), market levels otherwise. Where the
official and market rates differ widely (ARS, CUP, IRR, KPW, LBP, MMK, SDG,
SSP, SYP, VES, YER, ZWG), the official rate is used and the environment should
override the limits if it accepts such payments at all. Review the table when
a rate moves by more than ~30 %, the point at which a rounded tier changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Mapping

_TWO = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD "
    "BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR "
    "IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK "
    "MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP "
    "STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST "
    "XCD XCG YER ZAR ZMW ZWG"
).split()
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()
_THREE = "BHD IQD JOD KWD LYD OMR TND".split()

#: Units of each currency per 1 USD, November 2025, approximate (see module docstring).
USD_RATES: Mapping[str, str] = MappingProxyType({
    "AED": "3.6725", "AFN": "67", "ALL": "83", "AMD": "385", "AOA": "915", "ARS": "1450",
    "AUD": "1.53", "AWG": "1.79", "AZN": "1.70", "BAM": "1.686", "BBD": "2", "BDT": "122",
    "BGN": "1.686", "BHD": "0.376", "BIF": "2960", "BMD": "1", "BND": "1.30", "BOB": "6.91",
    "BRL": "5.35", "BSD": "1", "BTN": "88.7", "BWP": "13.4", "BYN": "3.0", "BZD": "2",
    "CAD": "1.40", "CDF": "2500", "CHF": "0.80", "CLP": "940", "CNY": "7.10", "COP": "3800",
    "CRC": "500", "CUP": "24", "CVE": "95", "CZK": "21", "DJF": "177.7", "DKK": "6.45",
    "DOP": "63.5", "DZD": "130", "EGP": "47.5", "ERN": "15", "ETB": "150", "EUR": "0.862",
    "FJD": "2.27", "FKP": "0.76", "GBP": "0.76", "GEL": "2.70", "GHS": "11", "GIP": "0.76",
    "GMD": "72", "GNF": "8680", "GTQ": "7.66", "GYD": "209", "HKD": "7.78", "HNL": "26.3",
    "HTG": "131", "HUF": "330", "IDR": "16700", "ILS": "3.25", "INR": "88.7", "IQD": "1310",
    "IRR": "42000", "ISK": "127", "JMD": "160", "JOD": "0.709", "JPY": "155", "KES": "129",
    "KGS": "87.4", "KHR": "4010", "KMF": "424", "KPW": "900", "KRW": "1460", "KWD": "0.307",
    "KYD": "0.833", "KZT": "520", "LAK": "21700", "LBP": "89500", "LKR": "303", "LRD": "180",
    "LSL": "17.3", "LYD": "5.45", "MAD": "9.2", "MDL": "17", "MGA": "4450", "MKD": "53",
    "MMK": "2100", "MNT": "3580", "MOP": "8.0", "MRU": "39.8", "MUR": "45.5", "MVR": "15.42",
    "MWK": "1750", "MXN": "18.4", "MYR": "4.15", "MZN": "63.9", "NAD": "17.3", "NGN": "1450",
    "NIO": "36.8", "NOK": "10.1", "NPR": "142", "NZD": "1.76", "OMR": "0.3845", "PAB": "1",
    "PEN": "3.38", "PGK": "4.2", "PHP": "59", "PKR": "282", "PLN": "3.67", "PYG": "7050",
    "QAR": "3.64", "RON": "4.39", "RSD": "101", "RUB": "80", "RWF": "1450", "SAR": "3.75",
    "SBD": "8.2", "SCR": "14.5", "SDG": "600", "SEK": "9.5", "SGD": "1.30", "SHP": "0.76",
    "SLE": "23", "SOS": "571", "SRD": "38.5", "SSP": "4600", "STN": "21.1", "SVC": "8.75",
    "SYP": "11000", "SZL": "17.3", "THB": "32.4", "TJS": "9.3", "TMT": "3.50", "TND": "2.95",
    "TOP": "2.40", "TRY": "42.3", "TTD": "6.78", "TWD": "31", "TZS": "2450", "UAH": "42",
    "UGX": "3550", "USD": "1", "UYU": "39.8", "UZS": "12000", "VES": "230", "VND": "26300",
    "VUV": "120", "WST": "2.75", "XAF": "565", "XCD": "2.70", "XCG": "1.79", "XOF": "565",
    "XPF": "103", "YER": "1600", "ZAR": "17.3", "ZMW": "22.5", "ZWG": "26.5",
})

#: USD tiers the per-currency values are derived from.
HIGH_VALUE_USD = Decimal("10000")
MAX_AMOUNT_USD = Decimal("1000000")


@dataclass(frozen=True)
class Currency:
    """One supported currency and its default limits (major units)."""

    code: str
    minor_units: int
    usd_rate: Decimal
    max_amount: Decimal
    high_value: Decimal


def round_to_one_significant_digit(value: Decimal) -> Decimal:
    """``1550000 -> 2000000``, ``3070 -> 3000``, ``8620 -> 9000`` (half-up)."""
    exponent = value.adjusted()
    rounded = value.scaleb(-exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(exponent)
    return rounded.quantize(Decimal(1)) if exponent >= 0 else rounded  # 2000000, not 2E+6


def _build() -> dict[str, Currency]:
    minor = {**{c: 2 for c in _TWO}, **{c: 0 for c in _ZERO}, **{c: 3 for c in _THREE}}
    if set(minor) != set(USD_RATES):  # a currency without a rate (or the reverse) is a bug
        raise RuntimeError(f"currency table mismatch: {sorted(set(minor) ^ set(USD_RATES))}")
    table = {}
    for code in sorted(minor):
        rate = Decimal(USD_RATES[code])
        table[code] = Currency(
            code=code, minor_units=minor[code], usd_rate=rate,
            max_amount=round_to_one_significant_digit(MAX_AMOUNT_USD * rate),
            high_value=round_to_one_significant_digit(HIGH_VALUE_USD * rate))
    return table


#: Read-only mapping of supported currency code -> :class:`Currency`.
CURRENCIES: Mapping[str, Currency] = MappingProxyType(_build())

#: Read-only mapping of supported currency code -> minor units.
MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    {code: c.minor_units for code, c in CURRENCIES.items()})


def minor_units(currency: str) -> int:
    """Minor units for ``currency``; raises KeyError when unsupported."""
    return MINOR_UNITS[currency]
