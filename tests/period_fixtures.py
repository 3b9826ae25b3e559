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


#: one chat workload in Virginia served by 8B on A100s measured at 10 req/s and 300 W a replica
#: (``demand``: its YAML flow mapping), as the QA's procurement problems have it
A100_CHAT = """workloads:
  - id: chat
    demand: {demand}
    input_tokens: {{mean: 500, p90: 500, max: 500, distribution: fixed}}
    output_tokens: {{mean: 100, p90: 100, max: 100, distribution: fixed}}
    slo: {{ttft_ms: 5000, tpot_ms: 200, percentile: 99}}
    models: [llama-3.1-8b]
    regions: [virginia]
    quantizations: [bf16]
measurements:
  - {{accelerator: a100-80gb, model: llama-3.1-8b, quantization: bf16, tensor_parallel: 1, workload: chat,
     max_requests_per_s: 10, power_w: 300}}
"""

#: the growing, daily-profiled demand of those problems' four quarters
QUARTERS_DEMAND = ("{requests_per_s: 40, growth: [1, 1.25, 1.5, 2], profile: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, "
                   "0.5, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]}")


def a100_chat(demand: str = QUARTERS_DEMAND) -> str:
    """The workloads and measurements sections with ``demand``."""
    return A100_CHAT.format(demand=demand)
