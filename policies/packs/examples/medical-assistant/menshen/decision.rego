# Example: a medical information assistant.
#
# - Every answer carries a disclaimer (the model is not a clinician).
# - Patient identifiers (PHI) are pseudonymised or masked before the request
#   leaves, so the upstream model never sees who the patient is.
# - Requests above a risk score go to a person for review.
# - Self-harm signals get a crisis message instead of a model answer.
package menshen

import rego.v1

cfg := data.menshen.config.medical

self_harm if {
	some f in input.findings
	f.category == cfg.self_harm_category
	f.score >= cfg.self_harm_score
}

phi contains e if {
	some f in input.findings
	some e in f.entity_types
	e in cfg.phi_types
}

operator(e) := "pseudonym" if e in {"PERSON", "EMAIL", "PHONE_NUMBER"}

operator(e) := "mask" if not e in {"PERSON", "EMAIL", "PHONE_NUMBER"}

redact[e] := operator(e) if some e in phi

decision := {
	"action": "block",
	"reasons": ["self_harm_risk"],
	"status": 451,
	"message": cfg.crisis_message,
} if {
	self_harm
} else := {
	"action": "review",
	"reasons": ["risk_score_review"],
} if {
	input.context.direction == "request"
	input.risk.score >= cfg.review_risk_score
} else := {
	"action": "redact",
	"reasons": ["phi"],
	"redact": redact,
	"disclaimer": cfg.disclaimer,
} if {
	input.context.direction == "response"
	count(redact) > 0
} else := {
	"action": "redact",
	"reasons": ["phi"],
	"redact": redact,
} if {
	count(redact) > 0
} else := {
	"action": "allow",
	"reasons": ["medical_disclaimer"],
	"disclaimer": cfg.disclaimer,
} if {
	input.context.direction == "response"
} else := {"action": "allow", "reasons": []}
