package main

import (
	"flag"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

// editorFlags declares the identity the gateway presents to Copilot. The
// version strings go stale as the editors move on; when Copilot starts
// refusing them they can be changed without a new build.
func editorFlags(fs *flag.FlagSet) *copilot.Editor {
	ed := copilot.DefaultEditor()
	fs.StringVar(&ed.EditorVersion, "editor-version", ed.EditorVersion, "Editor-Version header sent to GitHub and Copilot")
	fs.StringVar(&ed.PluginVersion, "editor-plugin-version", ed.PluginVersion, "Editor-Plugin-Version header")
	fs.StringVar(&ed.UserAgent, "user-agent", ed.UserAgent, "User-Agent header")
	fs.StringVar(&ed.IntegrationID, "copilot-integration-id", ed.IntegrationID, "Copilot-Integration-Id header")
	fs.StringVar(&ed.APIVersion, "github-api-version", ed.APIVersion, "X-Github-Api-Version header")
	return &ed
}

// copilotHostsFor returns the Copilot API hosts to allow besides
// *.githubcopilot.com for a GitHub API URL: GitHub Enterprise Cloud with
