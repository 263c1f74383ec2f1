package tools

// Wording shared by many tools lives here once, so descriptions stay
// consistent and tools/list stays small. A property whose struct tag has no
// jsonschema_description takes its text from here by name.
var commonWords = map[string]string{
	"limit":      "Page size.",
	"cursor":     "next_cursor of the previous page; omit for the first page.",
	"value":      "Amount in the smallest currency unit (cents, paise).",
	"contact_id": "Contact id.",
	"deal_id":    "Deal id.",
	"id":         "Record id.",
}
