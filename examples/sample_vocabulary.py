"""The sample world's vocabulary: names, companies, titles, site paths, assets and calendar weights.

Plain data for `gtmflow.examples.sample_world`, kept apart so the generator reads as behaviour.
"""

from __future__ import annotations

from itertools import accumulate
from types import MappingProxyType

# --- word lists -------------------------------------------------------------------------------

FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "James", "Kavya",
    "Lars", "Maya", "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Priya", "Lukas", "Sofia", "Mateo", "Chloe", "Ethan",
)  # fmt: skip
LAST_NAMES = (
    "Schmidt", "Nguyen", "Garcia", "Okafor", "Müller", "Tanaka", "Rossi", "Smith", "Johnson",
    "Kowalski", "Silva", "Chen", "Patel", "Dubois", "Larsen", "Kim", "Novak", "Haddad", "Brown",
    "Fischer", "Moreau", "Singh", "Ito", "Walker", "Jensen", "Costa", "Lopez", "Murphy",
)  # fmt: skip
COMPANY_ROOTS = (
    "Northwind", "Bluepeak", "Ironclad", "Brightline", "Cobalt", "Meridian", "Tallgrass",
    "Quartz", "Redwood", "Silverlake", "Harbor", "Summit", "Lumen", "Vantage", "Keystone",
    "Orbital", "Fernhill", "Granite", "Solstice", "Atlas", "Beacon", "Driftwood", "Evergreen",
)  # fmt: skip
COMPANY_SUFFIXES = (
    "Analytics", "Systems", "Labs", "Logistics", "Health", "Robotics", "Capital", "Software",
    "Networks", "Foods", "Energy", "Security",
)  # fmt: skip
INDUSTRIES = (
    "Computer Software", "Financial Services", "Hospital & Health Care", "Logistics & Supply Chain",
    "Information Technology & Services", "Marketing & Advertising", "Retail", "Manufacturing",
    "Renewables & Environment",
)  # fmt: skip
EMPLOYEES = ("12", "35", "80", "150", "320", "750", "1800", "5200")
COUNTRY_ZONES = (
    ("United States", ("America/New_York", "America/Chicago", "America/Denver",
                       "America/Los_Angeles")),
    ("Germany", ("Europe/Berlin",)),
    ("United Kingdom", ("Europe/London",)),
    ("France", ("Europe/Paris",)),
    ("Netherlands", ("Europe/Amsterdam",)),
    ("Canada", ("America/Toronto", "America/Vancouver")),
    ("Singapore", ("Asia/Singapore",)),
    ("Australia", ("Australia/Sydney",)),
    ("India", ("Asia/Kolkata",)),
    ("Japan", ("Asia/Tokyo",)),
    ("Brazil", ("America/Sao_Paulo",)),
)  # fmt: skip
COUNTRY_CUM = tuple(accumulate((40, 10, 9, 5, 4, 6, 5, 5, 6, 3, 3)))
TITLES = (
    "VP of Marketing", "Head of Demand Generation", "Marketing Operations Manager",
    "Revenue Operations Lead", "Director of Sales", "Account Executive", "Chief Marketing Officer",
    "Growth Marketing Manager", "Sales Development Manager", "Chief Revenue Officer",
    "Content Marketing Lead", "Founder & CEO", "Product Marketing Manager",
    "Customer Success Manager", "Marketing Analyst",
)  # fmt: skip
STAGES = MappingProxyType({
    "hot": ("salesqualifiedlead", "opportunity", "marketingqualifiedlead"),
    "researcher": ("lead", "marketingqualifiedlead", "marketingqualifiedlead"),
    "dormant": ("subscriber", "lead", "customer"),
    "new": ("subscriber", "lead"),
    "light": ("subscriber", "lead", "lead"),
})  # fmt: skip

# --- site, content and calendar ---------------------------------------------------------------

BLOG_SLUGS = (
    "pipeline-velocity-benchmarks", "lead-scoring-without-guesswork", "abm-playbook-2026",
    "intent-data-explained", "revops-stack-audit", "cold-email-that-gets-replies",
    "attribution-models-compared", "sales-marketing-sla", "webinar-funnel-teardown",
    "churn-signals-in-product-data", "case-studies-that-sell", "territory-planning-guide",
)  # fmt: skip
PATH_GROUPS = (
    ("/",),
    tuple(f"/blog/{slug}" for slug in BLOG_SLUGS),
    ("/pricing",),
    ("/docs", "/docs/quickstart", "/docs/api/events", "/docs/integrations/salesforce",
     "/docs/integrations/hubspot", "/docs/security", "/docs/sso"),
    ("/customers", "/customers/northwind-analytics", "/customers/bluepeak-health"),
    ("/integrations", "/integrations/salesforce", "/integrations/slack"),
    ("/product", "/product/workflows", "/product/analytics"),
    ("/resources", "/resources/webinars"),
    ("/about", "/careers", "/contact"),
)  # fmt: skip
PRICING_GROUP = 2
CUSTOMERS_GROUP = 4
INTEREST = MappingProxyType({  # cumulative weights over PATH_GROUPS, per persona
    "hot": tuple(accumulate((8, 12, 12, 18, 14, 14, 14, 4, 4))),
    "researcher": tuple(accumulate((8, 50, 3, 6, 8, 4, 8, 10, 3))),
    "dormant": tuple(accumulate((15, 40, 3, 8, 8, 6, 10, 6, 4))),
    "new": tuple(accumulate((20, 25, 5, 10, 10, 8, 14, 4, 4))),
    "light": tuple(accumulate((25, 40, 4, 4, 6, 4, 8, 4, 5))),
})  # fmt: skip
ASSETS = (  # (asset_id, asset_type, title)
    ("eb-pipeline-playbook", "ebook", "The B2B Pipeline Playbook"),
    ("eb-abm-field-guide", "ebook", "Account-Based Marketing: A Field Guide"),
    ("eb-revops-handbook", "ebook", "The RevOps Handbook"),
    ("wp-attribution", "whitepaper", "Multi-Touch Attribution That Finance Trusts"),
    ("wp-intent-data", "whitepaper", "Intent Data: Signal or Noise?"),
    ("cs-northwind", "case_study", "How Northwind Analytics Doubled SQLs"),
    ("cs-bluepeak", "case_study", "Bluepeak Health Cuts Lead Response to 5 Minutes"),
    ("cl-launch", "checklist", "Product Launch Checklist"),
    ("cl-lead-routing", "checklist", "Lead Routing Audit Checklist"),
)
EBOOKS = tuple(asset for asset in ASSETS if asset[1] == "ebook")
OTHER_ASSETS = tuple(asset for asset in ASSETS if asset[1] != "ebook")
WEBINAR_TITLES = (
    "Pipeline Forecasting Without Spreadsheets",
    "From MQL to Meeting in 24 Hours",
    "Attribution for the Skeptical CFO",
)
UTMS = (  # (referrer, utm_source, utm_medium, utm_campaign)
    ("https://www.google.com/", "google", "cpc", "brand-search"),
    ("https://www.linkedin.com/", "linkedin", "paid_social", "q1-abm"),
    ("https://www.g2.com/", "g2", "referral", "g2-category"),
    ("https://news.ycombinator.com/", None, None, None),
    ("https://www.google.com/", None, None, None),
)
HOURS = tuple(range(24))
HOUR_CUM = tuple(accumulate(
    (1, 1, 1, 1, 1, 2, 4, 10, 30, 60, 70, 65, 45, 55, 65, 60, 50, 35, 15, 10, 8, 6, 3, 2)
))  # fmt: skip

# The persona block: shuffled once per 20 contacts, so shares are exact for every 20.
BLOCK = (
    ("hot", "first"), ("hot", "ebook"), ("hot", "maybe"),
    ("researcher", "ebook"), ("researcher", "ebook"), ("researcher", "ebook"),
    ("researcher", "ebook"), ("researcher", "other"),
    *(("dormant", ""),) * 5, ("new", ""), *(("light", ""),) * 6,
)  # fmt: skip
SEGMENT_SHARE = 0.024
SEGMENT_TRACK = MappingProxyType(
    {"page_view": "Page Viewed", "email_open": "Email Opened", "form_submit": "Form Submitted"}
)
