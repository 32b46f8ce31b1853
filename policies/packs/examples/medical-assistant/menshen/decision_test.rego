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

test_answers_carry_the_disclaimer if {
	d := menshen.decision with input as response([])
	d.action == "allow"
	d.disclaimer == data.menshen.config.medical.disclaimer
}

test_requests_carry_no_disclaimer if {
	d := menshen.decision with input as base
	d.action == "allow"
	not d.disclaimer
}

test_patient_identifiers_are_redacted if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM02", 0.9, ["PERSON", "MEDICAL_RECORD_NUMBER"])])
	d.action == "redact"
	d.redact == {"PERSON": "pseudonym", "MEDICAL_RECORD_NUMBER": "mask"}
}

test_high_risk_goes_to_review if {
	d := menshen.decision with input as object.union(base, {"risk": {"score": 75}})
	d.action == "review"
}

test_risk_below_threshold_is_answered if {
	d := menshen.decision with input as object.union(base, {"risk": {"score": 59}})
	d.action == "allow"
}

test_self_harm_gets_crisis_message if {
	d := menshen.decision with input as with_findings([finding("MED:self_harm", 0.7, [])])
	d.action == "block"
	d.message == data.menshen.config.medical.crisis_message
}

test_redacted_answers_keep_the_disclaimer if {
	d := menshen.decision with input as response([finding("OWASP-LLM-2025:LLM02", 0.9, ["PATIENT_ID"])])
	d.action == "redact"
	d.disclaimer == data.menshen.config.medical.disclaimer
}
