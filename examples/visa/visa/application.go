package visa

import "time"

// Application is a visa application as it arrives on [Applications], JSON keyed by
// its ApplicationID. Levels read it and never change it: what they conclude goes
// into the [Document] that carries it.
type Application struct {
	ApplicationID string    `json:"application_id"`
	VisaType      string    `json:"visa_type"`
	SubmittedAt   time.Time `json:"submitted_at"`
	Applicant     Applicant `json:"applicant"`
	Passport      Passport  `json:"passport"`
	// StayDays is the length of the intended stay.
	StayDays int `json:"stay_length_days"`
	// Funds is what the applicant shows to live on during the stay, in euros.
	Funds int `json:"funds_eur"`
	// Invitation is the host company's letter a business visa needs.
	Invitation *Letter `json:"invitation_letter,omitempty"`
	// Enrolment is the institution's letter a student visa needs.
	Enrolment *Letter `json:"enrolment_letter,omitempty"`
	// Medical is the certificate a work visa needs (level E).
	Medical *MedicalCertificate `json:"medical_certificate,omitempty"`
	// PriorRefusals is how many visas the applicant was refused before.
	PriorRefusals int `json:"prior_refusals"`
	// PriorOverstay is true if the applicant once stayed longer than allowed.
	PriorOverstay bool `json:"prior_overstay,omitempty"`
}

// Applicant is the person applying.
type Applicant struct {
	Name        string `json:"name"`
	Nationality string `json:"nationality"` // ISO 3166-1 alpha-3
	BirthDate   Date   `json:"birth_date"`
	Email       string `json:"email,omitempty"`
}

// Passport is the applicant's travel document.
type Passport struct {
	Number string `json:"number"`
	Expiry Date   `json:"expiry"`
}

// Letter is an invitation or enrolment letter.
type Letter struct {
	// Issuer is the company or institution that wrote it.
	Issuer    string `json:"issuer"`
	Reference string `json:"reference"`
	IssuedOn  Date   `json:"issued_on"`
}

// MedicalCertificate is a clinic's statement of the applicant's fitness.
type MedicalCertificate struct {
	Clinic   string `json:"clinic"`
	IssuedOn Date   `json:"issued_on"`
	Fit      bool   `json:"fit"`
}

// Date is a calendar day, in JSON as "2006-01-02". The zero Date is missing.
type Date struct{ time.Time }

// DateOf returns the day of t, in UTC.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// MarshalJSON writes d as "2006-01-02", or "" if d is zero.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte(`""`), nil
	}
	return []byte(`"` + d.Format(time.DateOnly) + `"`), nil
}

// UnmarshalJSON reads "2006-01-02"; "" and null leave d zero.
func (d *Date) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == `""` || s == "null" {
		*d = Date{}
		return nil
	}
	t, err := time.Parse(`"`+time.DateOnly+`"`, s)
	if err != nil {
		return err
	}
	*d = Date{t}
	return nil
}
