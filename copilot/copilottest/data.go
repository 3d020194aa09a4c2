package copilottest

// GitHubToken is the GitHub OAuth token the fake accepts by default.
const GitHubToken = "ghu_faketoken0123456789"

// Default quota header values (see UPSTREAM.md §3, "Quota").
const (
	DefaultPremiumQuotaHeader = "ent=300&ov=0.0&ovPerm=false&rem=40.0&rst=2026-12-01T00%3A00%3A00Z"
	DefaultChatQuotaHeader    = "ent=0&ov=0.0&ovPerm=false&rem=100.0&rst=2026-12-01T00%3A00%3A00Z"
)

// DefaultChatContent is the assistant message of the generated non-stream
// chat completion.
const DefaultChatContent = "Hello from fake Copilot"

// DefaultSKU is the sku reported by the token exchange.
const DefaultSKU = "copilot_for_business_seat_quota"

// DefaultUserJSON is the body of GET /copilot_internal/user unless
// SetUserJSON overrides it.
const DefaultUserJSON = `{"login":"octocat","copilot_plan":"business","access_type_sku":"copilot_for_business_seat_quota","chat_enabled":true,"quota_reset_date":"2026-12-01","quota_snapshots":{"chat":{"entitlement":0,"remaining":0,"percent_remaining":100,"unlimited":true,"overage_count":0,"overage_permitted":false,"quota_id":"chat"},"completions":{"entitlement":0,"remaining":0,"percent_remaining":100,"unlimited":true,"overage_count":0,"overage_permitted":false,"quota_id":"completions"},"premium_interactions":{"entitlement":300,"remaining":120,"percent_remaining":40.0,"unlimited":false,"overage_count":0,"overage_permitted":false,"quota_id":"premium_interactions"}}}`

// DefaultModelsJSON is the body of GET /models unless SetModelsJSON
// overrides it. The ids are "gpt-4o", "claude-sonnet-4" (chat) and
// "text-embedding-3-small" (embeddings).
const DefaultModelsJSON = `{"object":"list","data":[` +
	`{"id":"gpt-4o","name":"GPT-4o","object":"model","vendor":"Azure OpenAI","version":"gpt-4o-2024-11-20","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest GPT-4o model from OpenAI."},` +
	`"billing":{"is_premium":false,"multiplier":0},` +
	`"supported_endpoints":["/chat/completions"],` +
	`"capabilities":{"type":"chat","family":"gpt-4o","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":128000,"max_output_tokens":16384,"max_prompt_tokens":64000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":1,"supported_media_types":["image/jpeg","image/png","image/webp","image/gif"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true}}},` +
	`{"id":"claude-sonnet-4","name":"Claude Sonnet 4","object":"model","vendor":"Anthropic","version":"claude-sonnet-4","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest Claude Sonnet 4 model from Anthropic."},` +
	`"billing":{"is_premium":true,"multiplier":1},` +
	`"supported_endpoints":["/chat/completions","/v1/messages"],` +
	`"capabilities":{"type":"chat","family":"claude-sonnet-4","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":216000,"max_output_tokens":16000,"max_prompt_tokens":128000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":5,"supported_media_types":["image/jpeg","image/png","image/webp"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true}}},` +
	`{"id":"text-embedding-3-small","name":"Embedding V3 small","object":"model","vendor":"Azure OpenAI","version":"text-embedding-3-small","preview":false,"model_picker_enabled":false,` +
	`"policy":{"state":"enabled"},` +
	`"billing":{"is_premium":false,"multiplier":0},` +
	`"supported_endpoints":["/embeddings"],` +
	`"capabilities":{"type":"embeddings","family":"text-embedding-3-small","object":"model_capabilities","tokenizer":"cl100k_base",` +
	`"limits":{"max_inputs":512},` +
	`"supports":{"streaming":false,"tool_calls":false,"vision":false,"dimensions":true}}}` +
	`]}`
