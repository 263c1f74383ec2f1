// Command oidc-dev serves a real OpenID provider (zitadel/oidc's op, from
// cmd/internal/oidcdev) on a loopback address, so a developer can try
// crm-mcp's OAuth locally without an identity provider:
//
//	oidc-dev --addr 127.0.0.1:9999 --audience http://127.0.0.1:8080/mcp
//	MCP_OAUTH_ISSUER=http://127.0.0.1:9999 MCP_PUBLIC_URL=http://127.0.0.1:8080/mcp \
//	  crm-mcp --sandbox --transport http --addr 127.0.0.1:8080
//
// It prints the issuer, the confidential client's id and secret (client
// credentials grant; client_secret_basic or client_secret_post) and the
// public client's id (authorization code with PKCE; loopback redirect URIs
// ending in /callback or /oauth/callback, any port), then serves until
// interrupted. Access tokens are RS256 JWTs with aud = --audience and a
// "scope" claim holding the granted crm:read, crm:write and crm:send.
//
// It is for development and CI only: plain http, everything in memory, a
// secret made up at each start, and a login page that signs its one user in
// without asking. It refuses non-loopback addresses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/crm-mcp/crm-mcp/cmd/internal/oidcdev"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "oidc-dev:", err)
		os.Exit(2)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("oidc-dev", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9999", "loopback address to listen on (host:port)")
	audience := fs.String("audience", "http://127.0.0.1:8080/mcp", "the aud of every access token: crm-mcp's MCP_PUBLIC_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	u, err := url.Parse(*audience)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--audience %q is not an absolute http(s) URL; give crm-mcp's MCP_PUBLIC_URL, e.g. http://127.0.0.1:8080/mcp", *audience)
	}
	p, err := oidcdev.Start(*addr, *audience)
	if err != nil {
		return err
	}
	defer p.Close()

	fmt.Fprintf(out, "oidc-dev: a development OpenID provider, for development and CI only\n")
	fmt.Fprintf(out, "issuer:        %s\n", p.Issuer)
	fmt.Fprintf(out, "audience:      %s\n", p.Audience)
	fmt.Fprintf(out, "token_url:     %s\n", p.TokenURL)
	fmt.Fprintf(out, "client_id:     %s\n", p.ClientID)
	fmt.Fprintf(out, "client_secret: %s\n", p.ClientSecret)
	fmt.Fprintf(out, "public_client: %s\n", p.PublicClient)
	fmt.Fprintf(out, "scopes:        %s\n", strings.Join(oidcdev.Scopes, " "))
	fmt.Fprintf(out, "\nrun crm-mcp against it:\n  MCP_OAUTH_ISSUER=%s MCP_PUBLIC_URL=%s crm-mcp --sandbox --transport http --addr %s\n",
		p.Issuer, p.Audience, u.Host)
	fmt.Fprintf(out, "get a token:\n  curl -s -u %s:%s -d grant_type=client_credentials -d scope=crm:read %s\n",
		p.ClientID, p.ClientSecret, p.TokenURL)
	fmt.Fprintf(out, "ready\n")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
