# Example: a bank's customer-service assistant.
#
# - Customers must not paste card or account data into chat (PCI DSS scope):
#   such requests are refused with a helpful message; if the model ever
#   produces account data, it is partially masked.
# - Requests to move money (a deployment rule tags them FIN:funds_transfer)
#   are held for a person to review instead of being answered by the model.
# - Prompt injection is blocked as in the baseline.
package menshen

import rego.v1

cfg := data.menshen.config.financial

account_data contains e if {
	some f in input.findings
	some e in f.entity_types
	e in cfg.account_data_types
}

block contains "account_data_in_chat" if {
	input.context.direction == "request"
	count(account_data) > 0
}

block contains "prompt_injection" if {
	some f in input.findings
	f.category == "OWASP-LLM-2025:LLM01"
	f.score >= cfg.injection_block_score
}

review contains "transfer_request" if {
	input.context.direction == "request"
	some f in input.findings
	f.category == cfg.transfer_category
	f.score >= cfg.transfer_review_score
}

redact[e] := "partial" if {
	input.context.direction == "response"
	some e in account_data
}

decision := {
	"action": "block",
	"reasons": sort(block),
	"status": 403,
	"message": cfg.customer_message,
} if {
	count(block) > 0
} else := {
	"action": "review",
	"reasons": sort(review),
	"message": cfg.review_message,
} if {
	count(review) > 0
} else := {
	"action": "redact",
	"reasons": ["account_data_in_output"],
	"redact": redact,
} if {
	count(redact) > 0
} else := {"action": "allow", "reasons": []}
