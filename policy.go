package connectjwt

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// A Policy says what a procedure requires. The zero Policy, which every
// procedure without one gets, requires a valid access token (fail closed).
//
// A procedure's policy comes from, in this order: a Go option
// ([WithPublicProcedures], [WithOptionalProcedures], [WithProcedurePolicy]);
// the method's (connectjwt.v1.policy) option in its .proto; its service's
// (connectjwt.v1.service_policy) option; the zero Policy. The .proto options
// are read from connect.Spec.Schema, which generated handlers set to the
// method's descriptor ([Call.Schema]); a handler without a descriptor gets
// the zero Policy. Policies are [ValidatorOption]s, so every front end that
// shares a [Validator] applies the same ones.
type Policy struct {
	// Public procedures need no token and never look at one (a login or
	// health check).
	Public bool
	// Optional procedures accept a call without a token as anonymous
	// (Flask's jwt_optional); a token that is present must still be valid.
	Optional bool
	// Scopes are required, all of them (see [Claims.Scopes]).
	Scopes []string
	// Fresh requires a token minted from a password login, not a refresh.
	Fresh bool
}

// WithPublicProcedures marks procedures, by exact name such as
// "/connectjwt.v1.AuthService/Login", as needing no token.
func WithPublicProcedures(procedures ...string) ValidatorOption {
	return validatorOption(func(c *config) {
		for _, p := range procedures {
			c.setPolicy(p, Policy{Public: true})
		}
	})
}

// WithOptionalProcedures marks procedures, by exact name, as accepting
// anonymous calls: a missing token passes with no claims in the context, an
// expired or invalid one still fails.
func WithOptionalProcedures(procedures ...string) ValidatorOption {
	return validatorOption(func(c *config) {
		for _, p := range procedures {
			c.setPolicy(p, Policy{Optional: true})
		}
	})
}

// WithProcedurePolicy sets the policy of one procedure, by exact name.
func WithProcedurePolicy(procedure string, p Policy) ValidatorOption {
	return validatorOption(func(c *config) {
		p.Scopes = slices.Clone(p.Scopes)
		c.setPolicy(procedure, p)
	})
}

func (c *config) setPolicy(procedure string, p Policy) {
	// A procedure is "/package.Service/Method"; anything else is a typo
	// that would silently leave the procedure protected or open.
	if !strings.HasPrefix(procedure, "/") || strings.Count(procedure, "/") != 2 || strings.HasSuffix(procedure, "/") {
		c.errorf("procedure %q is not of the form /package.Service/Method", procedure)
		return
	}
	if p.Public && (p.Optional || len(p.Scopes) > 0 || p.Fresh) {
		c.errorf("procedure %q cannot be public and require anything", procedure)
		return
	}
	if old, ok := c.policies[procedure]; ok && !old.equal(p) {
		c.errorf("procedure %q is given two different policies", procedure)
		return
	}
	c.policies[procedure] = p
}

func (p Policy) equal(q Policy) bool {
	return p.Public == q.Public && p.Optional == q.Optional && p.Fresh == q.Fresh && slices.Equal(p.Scopes, q.Scopes)
}

// policy returns the procedure's policy, resolving .proto options once per
// method descriptor.
func (v *Validator) policy(procedure string, schema any) Policy {
	if p, ok := v.cfg.policies[procedure]; ok {
		return p
	}
	md, ok := schema.(protoreflect.MethodDescriptor)
	if !ok {
		return Policy{}
	}
	if p, ok := v.policies.Load(md); ok {
		return p.(Policy) //nolint:errcheck,forcetypeassert // the map holds only Policy values
	}
	p, _ := v.cfg.policyFor(procedure, md)
	v.policies.Store(md, p)
	return p
}

// WithClaimsCheck runs check on the verified claims of every authenticated
// call (flask-jwt-extended's token_verification_loader). An error refuses the
// call with [ErrAccessDenied] and permission_denied; the error itself is kept
// in [Failure.Cause] for the loader and never sent by default.
func WithClaimsCheck(check func(ctx context.Context, procedure string, claims *Claims) error) ValidatorOption {
	return validatorOption(func(c *config) { c.claimsCheck = check })
}

// authorize applies the procedure's requirements to verified claims.
func (c *config) authorize(ctx context.Context, procedure string, p Policy, claims *Claims) *Failure {
	if p.Fresh && !claims.Fresh {
		return fail(ErrFreshTokenRequired, claims)
	}
	var missing []string
	for _, s := range p.Scopes {
		if !claims.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		f := fail(ErrInsufficientScope, claims)
		f.MissingScopes = missing
		return f
	}
	if c.claimsCheck != nil {
		if err := c.claimsCheck(ctx, procedure, claims); err != nil {
			return failCause(ErrAccessDenied, claims, err)
		}
	}
	return nil
}

// PolicySource says where a procedure's effective policy comes from.
type PolicySource string

// Where a policy can come from.
const (
	PolicyFromDefault PolicySource = "default"
	PolicyFromOption  PolicySource = "go option"
	PolicyFromMethod  PolicySource = "method option"
	PolicyFromService PolicySource = "service option"
)

// ProcedurePolicy is the effective policy of one procedure.
type ProcedurePolicy struct {
	// Procedure is the full name, "/package.Service/Method".
	Procedure string
	// Policy is what the procedure requires.
	Policy Policy
	// Source says where Policy comes from.
	Source PolicySource
}

// Policies returns the effective policy of every method of the given
// services, e.g. examplev1.File_example_v1_example_proto.Services(), for
// startup logs and tests.
func (v *Validator) Policies(services protoreflect.ServiceDescriptors) []ProcedurePolicy {
	configured := v != nil && v.cfg != nil // the zero Validator refuses every call
	var out []ProcedurePolicy
	for s := range services.Len() {
		sd := services.Get(s)
		for m := range sd.Methods().Len() {
			md := sd.Methods().Get(m)
			procedure := "/" + string(sd.FullName()) + "/" + string(md.Name())
			p, src := Policy{}, PolicyFromDefault
			if configured {
				p, src = v.cfg.policyFor(procedure, md)
			}
			out = append(out, ProcedurePolicy{Procedure: procedure, Policy: p, Source: src})
		}
	}
	return out
}

// policyFor resolves a procedure's policy; schema is connect.Spec.Schema.
func (c *config) policyFor(procedure string, schema any) (Policy, PolicySource) {
	if p, ok := c.policies[procedure]; ok {
		return p, PolicyFromOption
	}
	md, ok := schema.(protoreflect.MethodDescriptor)
	if !ok {
		return Policy{}, PolicyFromDefault
	}
	if p, ok := policyOption(md.Options(), connectjwtv1.E_Policy); ok {
		return p, PolicyFromMethod
	}
	if sd, ok := md.Parent().(protoreflect.ServiceDescriptor); ok {
		if p, ok := policyOption(sd.Options(), connectjwtv1.E_ServicePolicy); ok {
			return p, PolicyFromService
		}
	}
	return Policy{}, PolicyFromDefault
}

func policyOption(opts proto.Message, ext protoreflect.ExtensionType) (Policy, bool) {
	if opts == nil || !proto.HasExtension(opts, ext) {
		return Policy{}, false
	}
	pp, ok := proto.GetExtension(opts, ext).(*connectjwtv1.Policy)
	if !ok || pp == nil {
		return Policy{}, false
	}
	p := Policy{Public: pp.GetPublic(), Optional: pp.GetOptional(), Scopes: slices.Clone(pp.GetScopes()), Fresh: pp.GetFresh()}
	if p.Public && (p.Optional || len(p.Scopes) > 0 || p.Fresh) {
		// Contradictory: fail closed to the strictest reading.
		p.Public = false
	}
	return p, true
}
