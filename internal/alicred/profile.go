package alicred

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aliyun/credentials-go/credentials/providers"
)

// cliProfile is one profile of the aliyun CLI's config.json, with the JSON names the CLI writes
// (aliyun/aliyun-cli, config/profile.go; read the same way by credentials-go's cli_profile.go).
type cliProfile struct {
	Name            string `json:"name"`
	Mode            string `json:"mode"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	StsToken        string `json:"sts_token"`
	RegionID        string `json:"region_id"`
	StsRegion       string `json:"sts_region"`
	RAMRoleARN      string `json:"ram_role_arn"`
	RAMSessionName  string `json:"ram_session_name"`
	ExpiredSeconds  int    `json:"expired_seconds"`
	Policy          string `json:"policy"`
	ExternalID      string `json:"external_id"`
	SourceProfile   string `json:"source_profile"`
	RAMRoleName     string `json:"ram_role_name"`
	OIDCProviderARN string `json:"oidc_provider_arn"`
	OIDCTokenFile   string `json:"oidc_token_file"`
}

type cliConfig struct {
	path     string
	Current  string       `json:"current"`
	Profiles []cliProfile `json:"profiles"`
}

// libraryModes are the CLI modes whose exchanges credentials-go performs from the file itself:
// CloudSSO and OAuth sign in with tokens the CLI stored (and OAuth writes refreshed ones back),
// External runs the profile's process_command.
var libraryModes = map[string]bool{"CloudSSO": true, "OAuth": true, "External": true}

// profile is the base credential of the selected CLI profile; none when no profile is named and
// the default file does not exist.
func (c Config) profile() (baseCredential, error) {
	conf, err := loadCLIConfig(c.SharedCredentialsFile, c.Profile)
	if err != nil || conf == nil {
		return baseCredential{}, err
	}
	name := c.Profile
	if name == "" {
		name = conf.Current
	}
	p, err := conf.get(name)
	if err != nil {
		return baseCredential{}, err
	}
	provider, err := c.fromProfile(conf, p, map[string]bool{})
	if err != nil {
		return baseCredential{}, err
	}
	return baseCredential{provider: provider, region: p.RegionID, stsRegion: p.StsRegion}, nil
}

// fromProfile builds the credential of one profile; seen guards ChainableRamRoleArn's
// source_profile against cycles.
func (c Config) fromProfile(conf *cliConfig, p cliProfile, seen map[string]bool) (providers.CredentialsProvider, error) {
	if seen[p.Name] {
		return nil, fmt.Errorf("profile %q in %q: its source_profile chain comes back to it", p.Name, conf.path)
	}
	seen[p.Name] = true
	setting := fmt.Sprintf("profile %q in %q", p.Name, conf.path)
	switch {
	// Profiles written before the CLI had modes carry only a key pair.
	case p.Mode == "AK", p.Mode == "":
		return staticKeys(p.AccessKeyID, p.AccessKeySecret, "", setting+" access_key_id", "access_key_secret")
	case p.Mode == "StsToken":
		if p.StsToken == "" {
			return nil, fmt.Errorf("%s is in mode StsToken but has no sts_token: run `aliyun configure --profile %s --mode StsToken` again",
				setting, p.Name)
		}
		return staticKeys(p.AccessKeyID, p.AccessKeySecret, p.StsToken, setting+" access_key_id", "access_key_secret")
	case p.Mode == "RamRoleArn", p.Mode == "ChainableRamRoleArn":
		var base providers.CredentialsProvider
		var err error
		if p.Mode == "RamRoleArn" {
			base, err = staticKeys(p.AccessKeyID, p.AccessKeySecret, "", setting+" access_key_id", "access_key_secret")
		} else {
			var source cliProfile
			if source, err = conf.get(p.SourceProfile); err == nil {
				base, err = c.fromProfile(conf, source, seen)
			}
		}
		if err != nil {
			return nil, err
		}
		return c.assumeRole(base, &AssumeRole{RoleARN: p.RAMRoleARN, SessionName: p.RAMSessionName,
			SessionExpiration: p.ExpiredSeconds, Policy: p.Policy, ExternalID: p.ExternalID}, setting, p.StsRegion)
	case p.Mode == "EcsRamRole":
		if p.RAMRoleName == "" {
			return nil, fmt.Errorf("%s is in mode EcsRamRole but has no ram_role_name", setting)
		}
		return c.ecsRole(p.RAMRoleName)
	case p.Mode == "OIDC":
		return c.oidc(&OIDCRole{ProviderARN: p.OIDCProviderARN, RoleARN: p.RAMRoleARN, TokenFile: p.OIDCTokenFile,
			SessionName: p.RAMSessionName, SessionExpiration: p.ExpiredSeconds, Policy: p.Policy}, setting, p.StsRegion)
	case libraryModes[p.Mode]:
		if len(seen) > 1 {
			return nil, fmt.Errorf("%s: a profile in mode %s cannot be the source_profile of another; "+
				"use it directly (profile = %q) with assume_role", setting, p.Mode, p.Name)
		}
		provider, err := providers.NewCLIProfileCredentialsProviderBuilder().WithProfileFile(conf.path).
			WithProfileName(p.Name).Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		return step(provider, fmt.Sprintf("signing in with %s (mode %s)", setting, p.Mode), Profile, p.Name), nil
	}
	return nil, fmt.Errorf("%s is in mode %q, which the asm provider cannot use: use a profile in mode AK, StsToken, "+
		"RamRoleArn, ChainableRamRoleArn, EcsRamRole, OIDC, CloudSSO, OAuth or External, or set the credentials in "+
		"the provider block", setting, p.Mode)
}

// loadCLIConfig reads the aliyun CLI configuration. A missing default file is not an error: it
// only means no profile credentials are available (nil).
func loadCLIConfig(path, name string) (*cliConfig, error) {
	explicit := path != ""
	if !explicit {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".aliyun", "config.json")
		}
	}
	if path == "" {
		if name != "" {
			return nil, fmt.Errorf("profile %q: no home directory to find ~/.aliyun/config.json in; "+
				"set shared_credentials_file (or ALIBABA_CLOUD_CREDENTIALS_FILE)", name)
		}
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && name == "" && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Alibaba Cloud profile file %q (shared_credentials_file): %w", path, err)
	}
	conf := &cliConfig{path: path}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, fmt.Errorf("parsing Alibaba Cloud profile file %q: %w", path, err)
	}
	return conf, nil
}

func (conf *cliConfig) get(name string) (cliProfile, error) {
	for _, p := range conf.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return cliProfile{}, fmt.Errorf("profile %q (profile / ALIBABA_CLOUD_PROFILE, or a source_profile) not found in %q", name, conf.path)
}
