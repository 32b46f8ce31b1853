# Unit tests for the baseline pack; run with `menshen policy test` or `opa test`.
package menshen_test

import rego.v1

import data.menshen

# A complete, clean input (schema version 1).
base := {
	"version": 1,
	"attributes": {"request": {"http": {
		"method": "POST", "path": "/v1/chat/completions",
		"host": "gw.example", "headers": {}, "size": 512,
	}}},
	"llm": {
		"api": "openai.chat", "path": "/v1/chat/completions", "model": "gpt-4o-mini",
		"route": "default", "tenant": "acme", "user": "u1",
		"message_counts": {"system": 1, "user": 1}, "message_bytes": {"system": 40, "user": 200},
		"has_untrusted_content": false,
	},
	"findings": [],
	"risk": {"score": 0, "categories": {}, "contributions": []},
	"context": {"time": "2025-06-01T10:00:00Z", "stream": false, "direction": "request"},
	"subject": {"id": "u1", "consecutive_violations": 0, "violations_24h": 0, "suspended": false},
}

finding(category, score) := {
	"detector": "rules.injection", "category": category, "score": score,
	"count": 1, "entity_types": [], "in_untrusted": false,
}

pii(types) := {
	"detector": "pii", "category": "OWASP-LLM-2025:LLM02", "score": 0.9,
	"count": count(types), "entity_types": types, "in_untrusted": false,
}

with_findings(fs) := object.union(base, {"findings": fs})

response(fs) := object.union(base, {"findings": fs, "context": {"direction": "response"}})

test_clean_request_is_allowed if {
	d := menshen.decision with input as base
	d.action == "allow"
	d.reasons == []
}

test_strong_injection_is_blocked if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM01", 0.95)])
	d.action == "block"
	"prompt_injection" in d.reasons
	d.status == 403
}

test_weak_direct_injection_is_allowed if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM01", 0.65)])
	d.action == "allow"
}

test_weaker_indirect_injection_is_blocked if {
	f := object.union(finding("OWASP-LLM-2025:LLM01", 0.65), {"in_untrusted": true})
	d := menshen.decision with input as with_findings([f])
	d.action == "block"
	d.reasons == ["indirect_prompt_injection"]
}

test_pii_is_redacted_with_configured_operators if {
	d := menshen.decision with input as with_findings([pii(["EMAIL", "CREDIT_CARD", "PERSON"])])
	d.action == "redact"
	d.redact == {"EMAIL": "mask", "CREDIT_CARD": "partial", "PERSON": "mask"}
}

test_private_keys_are_blocked_not_redacted if {
	d := menshen.decision with input as with_findings([pii(["PRIVATE_KEY"])])
	d.action == "block"
	d.reasons == ["secret_material"]
}

test_unsafe_output_blocked_only_in_responses if {
	f := finding("OWASP-LLM-2025:LLM05", 0.9)
	resp := menshen.decision with input as response([f])
	resp.action == "block"
	req := menshen.decision with input as with_findings([f])
	req.action == "allow"
}

test_system_prompt_leak_in_response_is_blocked if {
	d := menshen.decision with input as response([finding("OWASP-LLM-2025:LLM07", 0.8)])
	d.reasons == ["system_prompt_leakage"]
}

test_system_prompt_extraction_request_is_blocked if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM07", 0.9)])
	d.reasons == ["system_prompt_extraction"]
}

test_risky_tool_use_goes_to_review if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM06", 0.7)])
	d.action == "review"
	d.reasons == ["risky_tool_use"]
}

test_oversized_request_gets_413 if {
	big := object.union(base, {"attributes": {"request": {"http": {"size": 9999999}}}})
	d := menshen.decision with input as big
	d.action == "block"
	d.status == 413
}

test_too_many_messages_blocked if {
	many := object.union(base, {"llm": {"message_counts": {"user": 2000}}})
	d := menshen.decision with input as many
	d.reasons == ["too_many_messages"]
}

test_model_allowlist_applies_when_configured if {
	d := menshen.decision with input as base
		with data.menshen.config.baseline.model_allowlist as ["claude-sonnet"]
	d.reasons == ["model_not_allowed"]
	ok := menshen.decision with input as base
		with data.menshen.config.baseline.model_allowlist as ["gpt-4o-mini"]
	ok.action == "allow"
}

test_high_risk_score_blocks if {
	risky := {"score": 95, "categories": {"MLC:S1": 95}}
	d := menshen.decision with input as object.union(base, {"risk": risky})
	d.reasons == ["risk_score"]
}

test_high_pii_score_redacts_rather_than_blocks if {
	risky := {"score": 95, "categories": {"OWASP-LLM-2025:LLM02": 95}}
	d := menshen.decision with input as object.union(base, {"risk": risky, "findings": [pii(["EMAIL"])]})
	d.action == "redact"
}

test_block_wins_over_review_and_redact if {
	fs := [
		finding("OWASP-LLM-2025:LLM01", 0.99),
		finding("OWASP-LLM-2025:LLM06", 0.9),
		pii(["EMAIL"]),
	]
	d := menshen.decision with input as with_findings(fs)
	d.action == "block"
	d.reasons == ["prompt_injection"]
}

test_exfiltration_link_in_a_document_is_blocked if {
	f := object.union(finding("OWASP-LLM-2025:LLM02", 0.85), {"in_untrusted": true})
	d := menshen.decision with input as with_findings([f])
	d.action == "block"
	"data_exfiltration" in d.reasons
}

test_exfiltration_link_in_the_answer_is_blocked if {
	d := menshen.decision with input as response([finding("OWASP-LLM-2025:LLM02", 0.85)])
	d.action == "block"
	"data_exfiltration" in d.reasons
}

test_pii_is_not_an_exfiltration_channel if {
	d := menshen.decision with input as with_findings([pii(["EMAIL"])])
	d.action == "redact"
}

test_weak_exfiltration_signal_is_allowed if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM02", 0.5)])
	d.action == "allow"
}
