"""The app's stacks, side by side; each only wires constructs (grouped by concern in ``modules/``).

Per account: ``payments-state`` (state bucket and key, applied first by ``make bootstrap``) and
``payments-account`` (the account's region-wide singletons: API Gateway's logging role, the object
trail, the CI identities). Per environment: ``payments-<env>``. Per organisation, optional: ``payments-guardrails`` (service control
policies, applied in the management account).
"""
