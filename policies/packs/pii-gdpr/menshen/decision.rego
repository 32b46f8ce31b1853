# Menshen pii-gdpr pack: personal data never leaves in clear.
#
# - Art. 25 / 32 (data protection by design, pseudonymisation): every
#   personal-data entity the detectors find is redacted before the request
#   goes upstream and before a response reaches the client. Names, e-mails
#   and phone numbers are pseudonymised so the proxy can restore them in the
#   answer; identifiers are masked; IP addresses hashed.
# - Art. 9 (special categories: health, religion, ...): refused unless the
#   tenant has a recorded legal basis (data.menshen.config.gdpr.tenants),
#   in which case they are redacted like other personal data.
# - Art. 5(1)(c) (data minimisation): whenever personal data is involved the
#   decision asks the audit log for "minimal" detail (no entity types, no
#   per-finding records).
#
# This pack decides on personal data only; deploy it beside the baseline
# rules (copy baseline/menshen/decision.rego's rules into the same package)
# when a tenant also needs injection protection.
package menshen

import rego.v1

cfg := data.menshen.config.gdpr

entities contains e if {
	some f in input.findings
	f.score >= cfg.min_score
	some e in f.entity_types
}

special contains e if {
	some e in entities
	e in cfg.special_categories
}

personal contains e if {
	some e in entities
	not e in cfg.special_categories
}

has_art9_basis if cfg.tenants[input.llm.tenant].art9_basis

operator(e) := object.get(cfg.personal_data, e, cfg.unknown_entity_operator)

redact[e] := operator(e) if some e in personal

# Special categories with a legal basis are processed, but still never in
# clear beyond what the task needs.
redact[e] := "mask" if {
	has_art9_basis
	some e in special
}

block contains "gdpr_special_category" if {
	count(special) > 0
	not has_art9_basis
}

decision := {
	"action": "block",
	"reasons": sort(block),
	"status": 422,
	"message": cfg.refusal_message,
	"log": "minimal",
} if {
	count(block) > 0
} else := {
	"action": "redact",
	"reasons": ["gdpr_personal_data"],
	"redact": redact,
	"log": "minimal",
} if {
	count(redact) > 0
} else := {"action": "allow", "reasons": []}
