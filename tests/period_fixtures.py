"""Shared catalog text of the multi-period tests written from the QA's procurement problems.

One purchasable A100 in round figures (8,760 USD, i.e. 1 USD an hour for a year; a life of 5 years;
10 % a year upkeep; 0.1 USD/h hosting) and two regions of different energy price and PUE, so that
costs per period can be derived by hand.
"""

A100_OVERLAY = """schema_version: 1
accelerators:
- id: a100-80gb
  purchase: {{usd_per_device: {{value: 8760, source: test}}, devices_per_server: 2,
             useful_life_years: {{value: 5, source: test}}, maintenance_fraction_per_year: {{value: 0.1, source: test}},
             hosting_usd_per_device_hour: {{value: 0.1, source: test}}, lead_time_quarters: {lead}}}
regions:
- id: virginia
  electricity_usd_per_kwh: {{value: 0.1, source: test}}
  pue: {{value: 1.5, source: test}}
- id: texas
  electricity_usd_per_kwh: {{value: 0.08, source: test}}
  pue: {{value: 1.25, source: test}}
sources: {{test: {{title: test figures}}}}
"""


def a100_overlay(lead_quarters: int = 1) -> str:
    """The overlay text with the purchase lead time given."""
    return A100_OVERLAY.format(lead=lead_quarters)
