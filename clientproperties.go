package lpwindow

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// ClientProperties describe the consumer's client to LivePerson (reference
// §4.4). Every field is optional; enums are checked before anything is sent.
type ClientProperties struct {
	AppID              string       `json:"appId,omitempty"`              // ≤64, e.g. "webAsync"
	AppVersion         string       `json:"appVersion,omitempty"`         // ≤32
	IPAddress          string       `json:"ipAddress,omitempty"`          // IPv4, ≤32
	DeviceFamily       DeviceFamily `json:"deviceFamily,omitempty"`       // DESKTOP, TABLET, MOBILE, OTHER
	OS                 OS           `json:"os,omitempty"`                 // WINDOWS, LINUX, OSX, ANDROID, IOS, OTHER
	OSVersion          string       `json:"osVersion,omitempty"`          // ≤64
	OSName             string       `json:"osName,omitempty"`             // ≤64
	Integration        Integration  `json:"integration,omitempty"`        // WEB_SDK, MOBILE_SDK, BRAND_SDK
	IntegrationVersion string       `json:"integrationVersion,omitempty"` // ≤64
	Browser            string       `json:"browser,omitempty"`            // ≤64
	BrowserVersion     string       `json:"browserVersion,omitempty"`     // ≤64
	TimeZone           string       `json:"timeZone,omitempty"`           // IANA name, ≤64
	DeviceManufacture  string       `json:"deviceManufacture,omitempty"`  // ≤64 (the documented spelling)
	DeviceModel        string       `json:"deviceModel,omitempty"`        // ≤64
	Features           []Feature    `json:"features,omitempty"`           // capabilities that are off by default
}

// DeviceFamily is the client's device class.
type DeviceFamily string

// The documented device families.
const (
	DeviceDesktop DeviceFamily = "DESKTOP"
	DeviceTablet  DeviceFamily = "TABLET"
	DeviceMobile  DeviceFamily = "MOBILE"
	DeviceOther   DeviceFamily = "OTHER"
)

// OS is the client's operating system.
type OS string

// The documented operating systems.
const (
	OSWindows OS = "WINDOWS"
	OSLinux   OS = "LINUX"
	OSMac     OS = "OSX"
	OSAndroid OS = "ANDROID"
	OSIOS     OS = "IOS"
	OSOther   OS = "OTHER"
)

// Integration is the kind of client integration.
type Integration string

// The documented integrations.
const (
	IntegrationWebSDK    Integration = "WEB_SDK"
	IntegrationMobileSDK Integration = "MOBILE_SDK"
	IntegrationBrandSDK  Integration = "BRAND_SDK"
)

// Feature is a client capability that must be declared to be used.
type Feature string

// The features in LivePerson's schema, plus QUICK_REPLIES and MULTI_DIALOG,
// which the tutorials use although the schema lacks them (reference §4.4).
// FILE_SHARING appears nowhere in the docs and is not offered.
const (
	FeatureCoBrowse     Feature = "CO_BROWSE"
	FeatureCoApp        Feature = "CO_APP"
	FeaturePhotoSharing Feature = "PHOTO_SHARING"
	FeatureSecureForms  Feature = "SECURE_FORMS"
	FeatureAutoMessages Feature = "AUTO_MESSAGES"
	FeatureRichContent  Feature = "RICH_CONTENT"
	FeatureQuickReplies Feature = "QUICK_REPLIES"
	FeatureMultiDialog  Feature = "MULTI_DIALOG"
)

var (
	deviceFamilies = []DeviceFamily{DeviceDesktop, DeviceTablet, DeviceMobile, DeviceOther}
	osValues       = []OS{OSWindows, OSLinux, OSMac, OSAndroid, OSIOS, OSOther}
	integrations   = []Integration{IntegrationWebSDK, IntegrationMobileSDK, IntegrationBrandSDK}
	features       = []Feature{FeatureCoBrowse, FeatureCoApp, FeaturePhotoSharing, FeatureSecureForms,
		FeatureAutoMessages, FeatureRichContent, FeatureQuickReplies, FeatureMultiDialog}
)

// Validate checks the documented lengths and enums. The error matches
// ErrInvalidRequest.
func (p ClientProperties) Validate() error {
	lengths := []struct {
		name, v string
		max     int
	}{
		{"appId", p.AppID, 64}, {"appVersion", p.AppVersion, 32}, {"ipAddress", p.IPAddress, 32},
		{"osVersion", p.OSVersion, 64}, {"osName", p.OSName, 64}, {"integrationVersion", p.IntegrationVersion, 64},
		{"browser", p.Browser, 64}, {"browserVersion", p.BrowserVersion, 64}, {"timeZone", p.TimeZone, 64},
		{"deviceManufacture", p.DeviceManufacture, 64}, {"deviceModel", p.DeviceModel, 64},
	}
	for _, l := range lengths {
		if len(l.v) > l.max {
			return invalidf(ErrInvalidRequest, "client property %s is %d bytes, more than %d", l.name, len(l.v), l.max)
		}
	}
	if p.IPAddress != "" {
		if ip := net.ParseIP(p.IPAddress); ip == nil || ip.To4() == nil {
			return invalidf(ErrInvalidRequest, "client property ipAddress %q is not an IPv4 address", p.IPAddress)
		}
	}
	if err := checkEnum("deviceFamily", p.DeviceFamily, deviceFamilies); err != nil {
		return err
	}
	if err := checkEnum("os", p.OS, osValues); err != nil {
		return err
	}
	if err := checkEnum("integration", p.Integration, integrations); err != nil {
		return err
	}
	for _, f := range p.Features {
		if err := checkEnum("features", f, features); err != nil {
			return err
		}
	}
	return nil
}

func checkEnum[T ~string](name string, v T, allowed []T) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return invalidf(ErrInvalidRequest, "client property %s: %q is not one of %v", name, v, allowed)
}

// Type values of the ClientProperties object: in the Client-Properties
// handshake header and inside InitConnection's headers (reference §4.4).
const (
	clientPropertiesHeaderType = ".ClientProperties"
	clientPropertiesInitType   = ".ams.headers.ClientProperties"
	consumerAuthType           = ".ams.headers.ConsumerAuthentication"
	maxJWTLen                  = 2048
)

// encode returns the properties as a JSON object with the given type.
func (p ClientProperties) encode(typ string) ([]byte, error) {
	type alias ClientProperties // no methods: plain struct encoding
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		alias
	}{typ, alias(p)})
	if err != nil {
		return nil, fmt.Errorf("lpwindow: encoding client properties: %w", err)
	}
	return b, nil
}

// initConnectionHeaders returns InitConnection's top-level headers array
// (reference §4.3). The caller must not log it: it holds the token.
func initConnectionHeaders(p ClientProperties, jwt string) ([]byte, error) {
	props, err := p.encode(clientPropertiesInitType)
	if err != nil {
		return nil, err
	}
	b := append([]byte{'['}, props...)
	b = append(b, `,{"type":"`+consumerAuthType+`","jwt":`...)
	b = wire.AppendString(b, jwt)
	return append(b, "}]"...), nil
}
