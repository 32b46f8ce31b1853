# Example: model routing.
#
# Requests that name the "auto" model are routed: short, simple, clean
# requests (few messages, little text, no tool output or documents, no
# findings) go to a small model co-located with the proxy (cheap, fast, data
# stays on site); everything else goes to a large hosted model. Requests
# naming a concrete model pass through unchanged. Injection is blocked.
package menshen

import rego.v1

cfg := data.menshen.config.routing

routable if input.llm.model in cfg.routable_models

simple if {
	count(input.findings) == 0
	not input.llm.has_untrusted_content
	object.get(input.llm.message_bytes, "user", 0) <= cfg.max_small_user_bytes
	sum([n | some n in input.llm.message_counts]) <= cfg.max_small_messages
}

injection if {
	some f in input.findings
	f.category == "OWASP-LLM-2025:LLM01"
	f.score >= cfg.injection_block_score
}

decision := {
	"action": "block",
	"reasons": ["prompt_injection"],
	"status": 403,
} if {
	injection
} else := {
	"action": "route",
	"reasons": ["simple_request"],
	"route": cfg.small_upstream,
} if {
	input.context.direction == "request"
	routable
	simple
} else := {
	"action": "route",
	"reasons": ["complex_request"],
	"route": cfg.large_upstream,
} if {
	input.context.direction == "request"
	routable
} else := {"action": "allow", "reasons": []}
