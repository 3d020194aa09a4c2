package copilotfake

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

// DefaultModelsJSON is the body of GET /models unless SetModelsJSON or
// WithModelsJSON overrides it. Ids and supported_endpoints:
//
//	gpt-4o                 chat      ["/chat/completions"]
//	claude-sonnet-4        chat      ["/chat/completions","/v1/messages"]
//	text-embedding-3-small embeddings ["/embeddings"]
//	gpt-5                  chat      ["/chat/completions","/responses"]
//	gpt-5-codex            chat      ["/responses"] (responses-only)
//	claude-sonnet-4.5      chat      ["/chat/completions","/v1/messages"]
//	claude-opus-4.6        chat      ["/chat/completions","/v1/messages"]
//	claude-haiku-4.5       chat      ["/chat/completions","/v1/messages"]
//
// Every model has billing{is_premium, multiplier}; the last five also
// carry billing.pricing{unit, input, cached_input, output}, in AI credits
// (1 credit = $0.01) per million tokens. That pricing shape is the fake's
// guess: Copilot's is undocumented.
const DefaultModelsJSON = `{"object":"list","data":[` +
	modelGPT4o + `,` + modelClaudeSonnet4 + `,` + modelEmbedding3Small + `,` +
	modelGPT5 + `,` + modelGPT5Codex + `,` +
	modelClaudeSonnet45 + `,` + modelClaudeOpus46 + `,` + modelClaudeHaiku45 +
	`]}`

const modelGPT4o = `{"id":"gpt-4o","name":"GPT-4o","object":"model","vendor":"Azure OpenAI","version":"gpt-4o-2024-11-20","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest GPT-4o model from OpenAI."},` +
	`"billing":{"is_premium":false,"multiplier":0},` +
	`"supported_endpoints":["/chat/completions"],` +
	`"capabilities":{"type":"chat","family":"gpt-4o","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":128000,"max_output_tokens":16384,"max_prompt_tokens":64000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":1,"supported_media_types":["image/jpeg","image/png","image/webp","image/gif"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true}}}`

const modelClaudeSonnet4 = `{"id":"claude-sonnet-4","name":"Claude Sonnet 4","object":"model","vendor":"Anthropic","version":"claude-sonnet-4","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest Claude Sonnet 4 model from Anthropic."},` +
	`"billing":{"is_premium":true,"multiplier":1},` +
	`"supported_endpoints":["/chat/completions","/v1/messages"],` +
	`"capabilities":{"type":"chat","family":"claude-sonnet-4","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":216000,"max_output_tokens":16000,"max_prompt_tokens":128000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":5,"supported_media_types":["image/jpeg","image/png","image/webp"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true}}}`

const modelEmbedding3Small = `{"id":"text-embedding-3-small","name":"Embedding V3 small","object":"model","vendor":"Azure OpenAI","version":"text-embedding-3-small","preview":false,"model_picker_enabled":false,` +
	`"policy":{"state":"enabled"},` +
	`"billing":{"is_premium":false,"multiplier":0},` +
	`"supported_endpoints":["/embeddings"],` +
	`"capabilities":{"type":"embeddings","family":"text-embedding-3-small","object":"model_capabilities","tokenizer":"cl100k_base",` +
	`"limits":{"max_inputs":512},` +
	`"supports":{"streaming":false,"tool_calls":false,"vision":false,"dimensions":true}}}`

const modelGPT5 = `{"id":"gpt-5","name":"GPT-5","object":"model","vendor":"Azure OpenAI","version":"gpt-5","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest GPT-5 model from OpenAI."},` +
	`"billing":{"is_premium":true,"multiplier":1,"pricing":{"unit":"ai_credits_per_million_tokens","input":125,"cached_input":12.5,"output":1000}},` +
	`"supported_endpoints":["/chat/completions","/responses"],` +
	`"capabilities":{"type":"chat","family":"gpt-5","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":400000,"max_output_tokens":128000,"max_prompt_tokens":272000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":1,"supported_media_types":["image/jpeg","image/png","image/webp","image/gif"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true,"structured_outputs":true}}}`

const modelGPT5Codex = `{"id":"gpt-5-codex","name":"GPT-5-Codex","object":"model","vendor":"OpenAI","version":"gpt-5-codex","preview":true,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest GPT-5-Codex model from OpenAI."},` +
	`"billing":{"is_premium":true,"multiplier":1,"pricing":{"unit":"ai_credits_per_million_tokens","input":125,"cached_input":12.5,"output":1000}},` +
	`"supported_endpoints":["/responses"],` +
	`"capabilities":{"type":"chat","family":"gpt-5-codex","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":400000,"max_output_tokens":128000,"max_prompt_tokens":272000},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":false,"structured_outputs":true}}}`

const modelClaudeSonnet45 = `{"id":"claude-sonnet-4.5","name":"Claude Sonnet 4.5","object":"model","vendor":"Anthropic","version":"claude-sonnet-4.5","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest Claude Sonnet 4.5 model from Anthropic."},` +
	`"billing":{"is_premium":true,"multiplier":1,"pricing":{"unit":"ai_credits_per_million_tokens","input":300,"cached_input":30,"output":1500}},` +
	`"supported_endpoints":["/chat/completions","/v1/messages"],` +
	`"capabilities":{"type":"chat","family":"claude-sonnet-4.5","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":200000,"max_output_tokens":32000,"max_prompt_tokens":128000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":5,"supported_media_types":["image/jpeg","image/png","image/webp"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true,"thinking":true}}}`

const modelClaudeOpus46 = `{"id":"claude-opus-4.6","name":"Claude Opus 4.6","object":"model","vendor":"Anthropic","version":"claude-opus-4.6","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest Claude Opus 4.6 model from Anthropic."},` +
	`"billing":{"is_premium":true,"multiplier":3,"pricing":{"unit":"ai_credits_per_million_tokens","input":500,"cached_input":50,"output":2500}},` +
	`"supported_endpoints":["/chat/completions","/v1/messages"],` +
	`"capabilities":{"type":"chat","family":"claude-opus-4.6","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":200000,"max_output_tokens":64000,"max_prompt_tokens":128000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":5,"supported_media_types":["image/jpeg","image/png","image/webp"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true,"thinking":true}}}`

const modelClaudeHaiku45 = `{"id":"claude-haiku-4.5","name":"Claude Haiku 4.5","object":"model","vendor":"Anthropic","version":"claude-haiku-4.5","preview":false,"model_picker_enabled":true,` +
	`"policy":{"state":"enabled","terms":"Enable access to the latest Claude Haiku 4.5 model from Anthropic."},` +
	`"billing":{"is_premium":true,"multiplier":0.33,"pricing":{"unit":"ai_credits_per_million_tokens","input":100,"cached_input":10,"output":500}},` +
	`"supported_endpoints":["/chat/completions","/v1/messages"],` +
	`"capabilities":{"type":"chat","family":"claude-haiku-4.5","object":"model_capabilities","tokenizer":"o200k_base",` +
	`"limits":{"max_context_window_tokens":200000,"max_output_tokens":32000,"max_prompt_tokens":128000,"vision":{"max_prompt_image_size":3145728,"max_prompt_images":5,"supported_media_types":["image/jpeg","image/png","image/webp"]}},` +
	`"supports":{"streaming":true,"tool_calls":true,"parallel_tool_calls":true,"vision":true,"thinking":true}}}`
