# Menshen cn-genai pack: GB/T 45654-2025 (网络安全技术 生成式人工智能服务安全基本要求)
# and the 生成式人工智能服务管理暂行办法.
#
# Categories: the 5 classes and 31 risks of Appendix A, as finding categories
# GBT45654:A.<class>.<n> (list with Chinese and English names in
# menshen/config/data.json). Keyword libraries for them live in
# keywords/terms.json and are loaded into the Rust phrase matcher: Rego only
# sees the resulting findings.
#
# Rules:
# - A.1-A.4 in a request: refuse with the standard message; the decision is
#   marked as a violation so the per-subject counters count it.
# - A.1-A.4 in a response: replace the answer with the output refusal (the
#   user did not write it, so it is not their violation).
# - A.5 (accuracy, reliability) in a response: allow with a disclaimer.
# - Every response is labelled as AI-generated (办法 第十二条) when
#   label_all_responses is set.
# - Personal information (A.4.5/A.4.6 via PII findings): redacted.
# - Suspension: a subject with 3 violations in a row or 5 in 24 hours is
#   suspended by the counters; a suspended subject is refused outright.
package menshen

import rego.v1

cfg := data.menshen.config.cn_genai

request if input.context.direction == "request"

response if input.context.direction == "response"

# risk_class("GBT45654:A.1.4") == "A.1"
risk_class(cat) := cfg.risks[cat].class

violating contains f.category if {
	some f in input.findings
	f.score >= cfg.block_score
	risk_class(f.category) in cfg.blocking_classes
}

inaccurate if {
	some f in input.findings
	f.score >= cfg.accuracy_score
	risk_class(f.category) == "A.5"
}

pi_entities contains e if {
	some f in input.findings
	some e in f.entity_types
}

redact[e] := cfg.pi_entity_types_redact if some e in pi_entities

suspended if input.subject.suspended

# Whether this violation is the one that reaches a suspension threshold;
# the user is told, as the 办法 expects a warning before/with sanctions.
triggers_suspension if {
	input.subject.consecutive_violations + 1 >= cfg.suspension.consecutive
}

triggers_suspension if {
	input.subject.violations_24h + 1 >= cfg.suspension.per_24h
}

violation_reasons := array.concat(["gbt45654_violation"], sort(violating))

refusal := concat("", [cfg.refusal_message, cfg.suspension_warning]) if {
	triggers_suspension
} else := cfg.refusal_message

disclaimer := cfg.accuracy_disclaimer if inaccurate

disclaimer := cfg.ai_label if {
	not inaccurate
	cfg.label_all_responses
}

decision := {
	"action": "block",
	"reasons": ["subject_suspended"],
	"status": 403,
	"message": cfg.suspension_message,
} if {
	request
	suspended
} else := {
	"action": "block",
	"reasons": violation_reasons,
	"status": 403,
	"message": refusal,
	"violation": true,
} if {
	request
	count(violating) > 0
} else := {
	"action": "block",
	"reasons": violation_reasons,
	"status": 403,
	"message": cfg.output_refusal_message,
} if {
	response
	count(violating) > 0
} else := {
	"action": "redact",
	"reasons": ["personal_information"],
	"redact": redact,
	"disclaimer": disclaimer,
} if {
	response
	count(redact) > 0
} else := {
	"action": "redact",
	"reasons": ["personal_information"],
	"redact": redact,
} if {
	count(redact) > 0
} else := {
	"action": "allow",
	"reasons": ["gbt45654_accuracy"],
	"disclaimer": disclaimer,
} if {
	response
	inaccurate
} else := {
	"action": "allow",
	"reasons": [],
	"disclaimer": disclaimer,
} if {
	response
	disclaimer
} else := {"action": "allow", "reasons": []}
