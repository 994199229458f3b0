"""ISO 4217 allow-list: currency code -> number of minor-unit digits.

Only active, circulating currencies are listed (no fund codes such as CLF/UYW,
no precious metals or testing codes such as XAU/XTS), which is what a card
payment can be denominated in.
"""
from __future__ import annotations

from types import MappingProxyType

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

_table: dict[str, int] = {}
for _code in _TWO:
    _table[_code] = 2
for _code in _ZERO:
    _table[_code] = 0
for _code in _THREE:
    _table[_code] = 3

#: Read-only mapping of supported currency code -> minor units.
MINOR_UNITS = MappingProxyType(_table)


def minor_units(currency: str) -> int:
    """Minor units for ``currency``; raises KeyError when unsupported."""
    return MINOR_UNITS[currency]
