package menshen_test

import rego.v1

import data.menshen

base := {
	"version": 1,
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "host": "gw", "headers": {}, "size": 400}}},
	"llm": {
		"api": "openai.chat", "path": "/v1/chat/completions", "model": "auto", "route": "default",
		"tenant": "t", "user": "u1", "message_counts": {"system": 1, "user": 1}, "message_bytes": {"system": 100, "user": 300},
		"has_untrusted_content": false,
	},
	"findings": [],
	"risk": {"score": 0, "categories": {}, "contributions": []},
	"context": {"time": "2025-06-01T10:00:00Z", "stream": false, "direction": "request"},
	"subject": {"id": "t/u1", "consecutive_violations": 0, "violations_24h": 0, "suspended": false},
}

finding(cat, score, types) := {
	"detector": "d", "category": cat, "score": score,
	"count": 1, "entity_types": types, "in_untrusted": false,
}

with_findings(fs) := object.union(base, {"findings": fs})

response(fs) := object.union(base, {"findings": fs, "context": {"direction": "response"}})

test_card_number_in_request_is_refused if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM02", 0.95, ["CREDIT_CARD"])])
	d.action == "block"
	d.reasons == ["account_data_in_chat"]
	d.message == data.menshen.config.financial.customer_message
}

test_transfer_request_goes_to_review if {
	d := menshen.decision with input as with_findings([finding("FIN:funds_transfer", 0.8, ["MONEY_AMOUNT"])])
	d.action == "review"
	d.reasons == ["transfer_request"]
}

test_weak_transfer_signal_is_answered if {
	d := menshen.decision with input as with_findings([finding("FIN:funds_transfer", 0.2, [])])
	d.action == "allow"
}

test_account_data_in_answer_is_partially_masked if {
	d := menshen.decision with input as response([finding("OWASP-LLM-2025:LLM02", 0.9, ["IBAN"])])
	d.action == "redact"
	d.redact == {"IBAN": "partial"}
}

test_card_data_wins_over_transfer_review if {
	d := menshen.decision with input as with_findings([
		finding("FIN:funds_transfer", 0.9, []),
		finding("OWASP-LLM-2025:LLM02", 0.9, ["IBAN"]),
	])
	d.action == "block"
}

test_other_personal_data_is_not_this_packs_concern if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM02", 0.9, ["EMAIL"])])
	d.action == "allow"
}
