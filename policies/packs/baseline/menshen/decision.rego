# Menshen baseline policy: OWASP Top 10 for LLM Applications 2025.
#
# Detectors (Rust) annotate the request with findings; this policy only reads
# their summaries (detector, category, score, entity types: never the text)
# and the risk score, and decides. Thresholds and operators live in
# data.menshen.config.baseline (menshen/config/data.json) so operators can
# tune them without editing Rego.
#
# Coverage:
#   LLM01 Prompt injection ........... block direct injection above a score,
#                                       indirect (tool results, documents)
#                                       above a lower one
#   LLM02 Sensitive info disclosure .. redact PII and secrets both ways;
#                                       block private keys outright
#   LLM03 Supply chain ............... optional model allowlist
#   LLM05 Improper output handling ... block unsafe output (scripts,
#                                       exfiltration links) in responses
#   LLM06 Excessive agency ........... hold risky tool use for review
#   LLM07 System prompt leakage ...... block responses that leak it and
#                                       requests that try to extract it
#   LLM08 Vector/embedding weaknesses  covered by the indirect-injection
#                                       rule on retrieved documents
#   LLM10 Unbounded consumption ...... cap request size and message count
#   LLM04 (poisoning) and LLM09 (misinformation) are not decidable at the
#   proxy from one request; see the medical example for disclaimers.
package menshen

import rego.v1

cfg := data.menshen.config.baseline

llm01 := "OWASP-LLM-2025:LLM01"

llm02 := "OWASP-LLM-2025:LLM02"

llm05 := "OWASP-LLM-2025:LLM05"

llm06 := "OWASP-LLM-2025:LLM06"

llm07 := "OWASP-LLM-2025:LLM07"

# --- LLM01 prompt injection ------------------------------------------------

block contains "prompt_injection" if {
	some f in input.findings
	f.category == llm01
	f.score >= cfg.injection_block_score
}

# Instructions hidden in tool output or retrieved documents are never the
# user's own intent, so a weaker signal suffices (LLM01 indirect, LLM08).
block contains "indirect_prompt_injection" if {
	some f in input.findings
	f.category == llm01
	f.in_untrusted
	f.score >= cfg.untrusted_injection_block_score
}

# --- LLM02 sensitive information disclosure --------------------------------

block contains "secret_material" if {
	some f in input.findings
	some e in f.entity_types
	e in cfg.blocking_secret_types
}

# Exfiltration channels (a markdown image or link whose URL carries a data
# placeholder): LLM02 findings that name no entity type, since PII and
# secrets always carry one. Rendering such an image sends the conversation
# to the URL's host, whether it arrives in a document or in the answer.
block contains "data_exfiltration" if {
	some f in input.findings
	f.category == llm02
	count(f.entity_types) == 0
	f.score >= cfg.exfiltration_block_score
}

redact[entity] := object.get(cfg.redact_operators, entity, cfg.default_operator) if {
	some f in input.findings
	some entity in f.entity_types
	not entity in cfg.blocking_secret_types
}

# --- LLM03 supply chain: only approved models --------------------------------

block contains "model_not_allowed" if {
	count(cfg.model_allowlist) > 0
	input.context.direction == "request"
	not input.llm.model in cfg.model_allowlist
}

# --- LLM05 improper output handling ----------------------------------------

block contains "unsafe_output" if {
	input.context.direction == "response"
	some f in input.findings
	f.category == llm05
	f.score >= cfg.output_block_score
}

# --- LLM06 excessive agency --------------------------------------------------

review contains "risky_tool_use" if {
	some f in input.findings
	f.category == llm06
	f.score >= cfg.agency_review_score
}

# --- LLM07 system prompt leakage ---------------------------------------------

block contains "system_prompt_leakage" if {
	input.context.direction == "response"
	some f in input.findings
	f.category == llm07
	f.score >= cfg.leakage_block_score
}

block contains "system_prompt_extraction" if {
	input.context.direction == "request"
	some f in input.findings
	f.category == llm07
	f.score >= cfg.injection_block_score
}

# --- LLM10 unbounded consumption ---------------------------------------------

block contains "request_too_large" if {
	input.attributes.request.http.size > cfg.max_request_bytes
}

block contains "too_many_messages" if {
	total := sum([n | some n in input.llm.message_counts])
	total > cfg.max_messages
}

# --- overall risk --------------------------------------------------------------

# Categories whose findings are handled by redaction (personal data) do not
# block through the score: a prompt full of e-mail addresses is redacted,
# not refused.
block contains "risk_score" if {
	some category, score in input.risk.categories
	score >= cfg.risk_block_score
	not category in cfg.risk_exempt_categories
}

# --- the decision --------------------------------------------------------------

status := 413 if {
	"request_too_large" in block
} else := 403

decision := {
	"action": "block",
	"reasons": sort(block),
	"status": status,
	"message": cfg.refusal_message,
} if {
	count(block) > 0
} else := {
	"action": "review",
	"reasons": sort(review),
} if {
	count(review) > 0
} else := {
	"action": "redact",
	"reasons": ["sensitive_entities"],
	"redact": redact,
} if {
	count(redact) > 0
} else := {"action": "allow", "reasons": []}
