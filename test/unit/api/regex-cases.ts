/**
 * RE2 patterns with the verdict Envoy 1.40 gives them in a route's `safe_regex` under Istio's
 * runtime `re2.max_program_size.error_level` 32768 (src/envoy/bootstrap.ts `istioRuntime`; Envoy's
 * own default is 100). The program sizes in `why` are Envoy's, read from its error message. test/unit/api/regex-table.test.ts checks pilotfish's
 * verdict; test/integration/api/regex-envoy.test.ts checks the same verdict with `envoy --mode
 * validate`, so the two prove pilotfish and Envoy agree.
 */
export interface RegexCase {
  pattern: string;
  /** pilotfish's (and Istio's) verdict. */
  valid: boolean;
  /** Envoy's verdict when it differs: only ever "Envoy accepts what pilotfish refuses". */
  envoy?: true;
  why: string;
  /** Full-match probes: [input, matches?] as Envoy decides. */
  probes?: readonly (readonly [string, boolean])[];
}

export const regexCases: readonly RegexCase[] = [
  // ---- ordinary patterns
  { pattern: "^/api/v[0-9]+/.*", valid: true, why: "anchors, class, repetition", probes: [["/api/v2/x", true], ["/api/x", false]] },
  { pattern: ".*\\.(jpg|png)$", valid: true, why: "alternation in a group", probes: [["/a.png", true], ["/a.gif", false]] },
  { pattern: "[^/]+", valid: true, why: "negated class", probes: [["abc", true], ["a/b", false]] },
  { pattern: "/v1/[^/]+/items/[0-9]{1,5}", valid: true, why: "bounded repetition", probes: [["/v1/x/items/12345", true], ["/v1/x/items/123456", false]] },
  { pattern: "a*?", valid: true, why: "lazy star" },
  { pattern: "(a|b)*c", valid: true, why: "star over a group", probes: [["ababc", true]] },
  { pattern: "(a*)*", valid: true, why: "nested star over a nullable group (RE2 accepts)" },
  { pattern: "a{,3}", valid: true, why: "RE2 reads {,3} as a literal", probes: [["a{,3}", true], ["aaa", false]] },
  { pattern: "[a-z]{50}", valid: true, why: "program size about 54" },
  { pattern: "\\bword\\b", valid: true, why: "word boundary" },
  { pattern: "\\0", valid: true, why: "octal escape \\0" },
  { pattern: "\\141", valid: true, why: "octal escape \\141 is 'a'", probes: [["a", true]] },
  { pattern: "\\/", valid: true, why: "escaped punctuation" },
  { pattern: "(?:)", valid: true, why: "empty non-capturing group" },
  // ---- RE2-only syntax that JavaScript lacks or reads differently: must pass
  { pattern: "(?P<id>[0-9]+)", valid: true, why: "Python-style named group (RE2)" },
  { pattern: "(?<id>[0-9]+)", valid: true, why: "named group without P (RE2 since 2023)" },
  { pattern: "\\pN+", valid: true, why: "one-letter Unicode class \\pN (JS needs \\p{N} and the u flag)", probes: [["123", true], ["12a", false]] },
  { pattern: "\\PL", valid: true, why: "negated one-letter class" },
  { pattern: "\\p{Greek}+", valid: true, why: "Unicode script class" },
  { pattern: "\\p{^Greek}", valid: true, why: "RE2's negated script class" },
  { pattern: "[[:alpha:]]+", valid: true, why: "POSIX class", probes: [["abc", true], ["ab1", false]] },
  { pattern: "[[:^alpha:]]+", valid: true, why: "negated POSIX class", probes: [["123", true], ["a", false]] },
  { pattern: "[[:word:]]", valid: true, why: "RE2's [:word:] POSIX class" },
  { pattern: "[[:digit:][:alpha:]]", valid: true, why: "two POSIX classes in one class" },
  { pattern: "(?U)a+", valid: true, why: "ungreedy flag U" },
  { pattern: "(?i)/users/.*", valid: true, why: "case-insensitive flag", probes: [["/USERS/x", true]] },
  { pattern: "(?i:abc)", valid: true, why: "flag group" },
  { pattern: "(?i-s)a", valid: true, why: "flags with negation" },
  { pattern: "(?s).*", valid: true, why: "dot matches newline" },
  { pattern: "(?m)^a$", valid: true, why: "multi-line flag" },
  { pattern: "\\Qa.b\\E", valid: true, why: "quoted literal", probes: [["a.b", true], ["axb", false]] },
  { pattern: "\\A/foo\\z", valid: true, why: "\\A and \\z anchors", probes: [["/foo", true]] },
  { pattern: "\\x{41}", valid: true, why: "braced hex escape", probes: [["A", true]] },
  { pattern: "\\x{FF}", valid: true, why: "highest Latin-1 code point" },
  { pattern: "é{2}", valid: true, why: "Envoy reads patterns as Latin-1: {2} repeats the second byte of é only", probes: [["éé", false], ["é", false]] },
  { pattern: "[α-ω]+", valid: true, why: "a UTF-8 range: valid for Go (Istio) and, byte-wise, for Envoy's Latin-1 RE2" },
  { pattern: "[ω-α]", valid: false, envoy: true, why: "an inverted UTF-8 range: Istio's Go regexp refuses it (Envoy, byte-wise, does not)" },
  // ---- JavaScript-only syntax RE2 refuses: must fail
  { pattern: "(?=a)b", valid: false, why: "look-ahead" },
  { pattern: "(?!a)b", valid: false, why: "negative look-ahead" },
  { pattern: "(?<=a)b", valid: false, why: "look-behind" },
  { pattern: "(?<!a)b", valid: false, why: "negative look-behind" },
  { pattern: "(a)\\1", valid: false, why: "back-reference" },
  { pattern: "(?<n>a)\\k<n>", valid: false, why: "JS named back-reference" },
  { pattern: "(?P=n)", valid: false, why: "Python named back-reference" },
  { pattern: "\\cA", valid: false, why: "JS control escape" },
  { pattern: "\\u0041", valid: false, why: "JS \\u escape" },
  { pattern: "[\\b]", valid: false, why: "JS backspace class escape" },
  { pattern: "\\Z", valid: false, why: "\\Z (Perl/Python) is not RE2" },
  { pattern: "\\e", valid: false, why: "\\e is not RE2" },
  { pattern: "\\8", valid: false, why: "\\8 is neither octal nor allowed" },
  { pattern: "(?x)a b", valid: false, why: "extended mode flag x" },
  { pattern: "a++", valid: false, why: "possessive repetition" },
  { pattern: "a**", valid: false, why: "nested repetition operator" },
  { pattern: "a{2}{3}", valid: false, why: "repeated counted repetition" },
  { pattern: "[\\C]", valid: false, why: "\\C inside a class" },
  { pattern: "\\x{100}", valid: false, why: "above \\x{FF}: Envoy's RE2 reads patterns as Latin-1" },
  // ---- malformed
  { pattern: "[[:foo:]]", valid: false, why: "unknown POSIX class" },
  { pattern: "\\p{Foo}", valid: false, why: "unknown Unicode class" },
  { pattern: "(abc", valid: false, why: "missing )" },
  { pattern: "[z-a]", valid: false, why: "inverted range" },
  { pattern: "[a-\\d]", valid: false, why: "class escape as range end" },
  // ---- RE2 limits
  { pattern: "a{1001}", valid: false, why: "repetition count above RE2's 1000" },
  { pattern: "(a{500}){3}", valid: false, why: "nested repetition total above 1000" },
  { pattern: "(((a{100}){100}){100})", valid: false, why: "nested repetition total above 1000" },
  { pattern: "a{1000}", valid: true, why: "program size 1004: above Envoy's default 100, under Istio's 32768", probes: [["a".repeat(1000), true], ["a".repeat(999), false]] },
  { pattern: "x{1,1000}", valid: true, why: "program size 2003" },
  { pattern: "a{97}", valid: true, why: "program size 101" },
  { pattern: "a".repeat(1024), valid: true, why: "1,024 characters (Istio's maximum), program size 1028" },
  { pattern: "\\w{1000}", valid: true, why: "program size 3004 (pilotfish estimates 4005)" },
  { pattern: "\\C", valid: false, envoy: true, why: "\\C (any byte): RE2 C++ accepts it, Istio's Go regexp refuses it" },
  { pattern: "\\C{200}", valid: false, envoy: true, why: "Istio refuses \\C; Envoy accepts the program size 204" },
  { pattern: "[a-z]{40}[0-9]{50}", valid: true, why: "program size 94 (Envoy's count): accepted" },
  { pattern: "[a-z]{60}[0-9]{36}", valid: true, why: "program size 100" },
  { pattern: "a{1000}".repeat(32) + "a{760}", valid: true, why: "program size 32764: under 32768 (pilotfish estimates 32765)" },
  { pattern: "a{1000}".repeat(32) + "a{764}", valid: false, envoy: true, why: "Envoy counts 32768 (accepted); pilotfish's upper-bound estimate says 32769" },
  { pattern: "a{1000}".repeat(32) + "a{765}", valid: false, why: "program size 32769 > 32768" },
  { pattern: "[a-z]{1000}".repeat(33), valid: false, why: "program size above 33000 > 32768" },
];
