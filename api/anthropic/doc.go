// Package anthropic is the Anthropic Messages API (POST /v1/messages) as
// copilot-proxy serves it to clients such as Claude Code: its wire types, the
// parsing and validation of a request, Copilot model-name mapping, local token
// counting for /v1/messages/count_tokens, the error shape, and pure
// converters to and from the OpenAI chat-completions pivot (api/openai):
//
//   - ToChat turns a Messages request into a chat-completions request;
//   - FromChatResponse turns a chat completion into a Message;
//   - StreamFromChat turns a chat-completions stream, chunk by chunk, into
//     the Messages event stream (message_start ... message_stop);
//   - EventUsage reads the token counts of a native Messages stream that is
//     relayed untouched (models that Copilot serves at /v1/messages).
//
// Nothing here does I/O or knows HTTP beyond status codes: the gateway reads
// bodies, frames events and talks to the upstream.
package anthropic
