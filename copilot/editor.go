package copilot

import "net/http"

// Default editor identity. The upstream is not a documented API: these values
// mimic VS Code Copilot Chat and go stale over time, so they live in one place
// and every one of them can be overridden through Editor.
const (
	DefaultEditorVersion = "vscode/1.104.3"
	DefaultPluginVersion = "copilot-chat/0.26.7"
	DefaultUserAgent     = "GitHubCopilotChat/0.26.7"
	DefaultIntegrationID = "vscode-chat"
	DefaultAPIVersion    = "2025-04-01"
	DefaultOpenAIIntent  = "conversation-panel"
)

// Editor is the identity the gateway presents to GitHub and Copilot: the
// header values an editor plugin would send. An empty field falls back to its
// default (see DefaultEditor), so a partially filled Editor is valid.
type Editor struct {
	EditorVersion string // Editor-Version, e.g. "vscode/1.104.3" (Copilot answers 400 without it)
	PluginVersion string // Editor-Plugin-Version, e.g. "copilot-chat/0.26.7"
	UserAgent     string // User-Agent, e.g. "GitHubCopilotChat/0.26.7"
	IntegrationID string // Copilot-Integration-Id, e.g. "vscode-chat"
	APIVersion    string // X-Github-Api-Version, e.g. "2025-04-01"
	OpenAIIntent  string // Openai-Intent, e.g. "conversation-panel"
}

// DefaultEditor returns the built-in editor identity.
func DefaultEditor() Editor {
	return Editor{
		EditorVersion: DefaultEditorVersion,
		PluginVersion: DefaultPluginVersion,
		UserAgent:     DefaultUserAgent,
		IntegrationID: DefaultIntegrationID,
		APIVersion:    DefaultAPIVersion,
		OpenAIIntent:  DefaultOpenAIIntent,
	}
}

// withDefaults fills every empty field from DefaultEditor.
func (e Editor) withDefaults() Editor {
	d := DefaultEditor()
	if e.EditorVersion == "" {
		e.EditorVersion = d.EditorVersion
	}
	if e.PluginVersion == "" {
		e.PluginVersion = d.PluginVersion
	}
	if e.UserAgent == "" {
		e.UserAgent = d.UserAgent
	}
	if e.IntegrationID == "" {
		e.IntegrationID = d.IntegrationID
	}
	if e.APIVersion == "" {
		e.APIVersion = d.APIVersion
	}
	if e.OpenAIIntent == "" {
		e.OpenAIIntent = d.OpenAIIntent
	}
	return e
}

// setExchangeHeaders sets the headers GitHub's token endpoint looks at.
func (e Editor) setExchangeHeaders(h http.Header) {
	h.Set("Editor-Version", e.EditorVersion)
	h.Set("Editor-Plugin-Version", e.PluginVersion)
	h.Set("User-Agent", e.UserAgent)
}

// setAPIHeaders sets the identity headers of every Copilot API call.
func (e Editor) setAPIHeaders(h http.Header) {
	e.setExchangeHeaders(h)
	h.Set("Copilot-Integration-Id", e.IntegrationID)
	h.Set("Openai-Intent", e.OpenAIIntent)
	h.Set("X-Github-Api-Version", e.APIVersion)
}
