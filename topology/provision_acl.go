package topology

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/gokax"
)

// createDenied returns the error, wrapping [ErrNotAuthorized], of creating
// topic that the cluster's ACLs denied (err): described says whether the
// principal could describe topic (false: the metadata denied it, so topic
// may exist, and Kafka answers an existing one TOPIC_ALREADY_EXISTS when
// the principal may create topics). nil if err is no denial.
func createDenied(err error, topic string, described bool) error {
	var answer *kerr.Error
	errors.As(err, &answer)
	switch {
	case !described && (answer == kerr.TopicAuthorizationFailed || answer == kerr.TopicAlreadyExists):
		return gokax.NotAuthorized(kerr.TopicAuthorizationFailed, "DESCRIBE", "topic", topic,
			"from Metadata, and CreateTopics answered "+answer.Message+": the topic is hidden from the principal",
			"grant the agents' READ (an input or table) or WRITE (an output), which include DESCRIBE, or CREATE if the topic is missing")
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return gokax.NotAuthorized(kerr.ClusterAuthorizationFailed, "CREATE", "cluster", "", "from CreateTopics of "+topic,
			"grant it (or CREATE on the topic), or create the topic beforehand")
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return gokax.NotAuthorized(kerr.TopicAuthorizationFailed, "CREATE", "topic", topic, "from CreateTopics: the topic does not exist",
			"grant it (or CREATE on the cluster), or create the topic beforehand")
	}
	return nil
}

// describeDenied returns the error, wrapping [ErrNotAuthorized], of
// describing topic's configuration (sluice reads cleanup.policy and
// max.message.bytes) that the cluster's ACLs denied (err); err otherwise.
func describeDenied(err error, topic string) error {
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		return err
	}
	return gokax.NotAuthorized(kerr.TopicAuthorizationFailed, "DESCRIBE_CONFIGS", "topic", topic,
		"from DescribeConfigs: sluice checks cleanup.policy and max.message.bytes", "")
}

// described reports whether the metadata of a topic, d, did not deny the
// principal: the topic exists, or Kafka said it does not.
func described(d kadm.TopicDetail) bool { return !errors.Is(d.Err, kerr.TopicAuthorizationFailed) }

// whichDenied returns err, or, when err is an ACL denial of a request
// about the topics names (kadm fails a Metadata or DescribeConfigs request
// whole when Kafka denies one topic of it), the denial, made by denial, of
// each topic that ask, the request about that topic alone, is denied.
func whichDenied(err error, names []string, ask func(topic string) error, denial func(topic string) error) error {
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		return err
	}
	var errs []error
	for _, name := range names {
		if errors.Is(ask(name), kerr.TopicAuthorizationFailed) {
			errs = append(errs, denial(name))
		}
	}
	if len(errs) == 0 {
		return err
	}
	return errors.Join(errs...)
}

// hiddenTopics is [whichDenied] for adm's ListTopics of names.
func hiddenTopics(ctx context.Context, adm *kadm.Client, err error, names []string) error {
	return whichDenied(err, names, func(topic string) error {
		_, err := adm.ListTopics(ctx, topic)
		return err
	}, func(topic string) error {
		return gokax.NotAuthorized(kerr.TopicAuthorizationFailed, "DESCRIBE", "topic", topic,
			"from Metadata: the topic is hidden from the principal",
			"grant the agents' READ (an input or table) or WRITE (an output), which include DESCRIBE")
	})
}

// configsDenied is [whichDenied] for adm's DescribeTopicConfigs of names.
func configsDenied(ctx context.Context, adm *kadm.Client, err error, names []string) error {
	return whichDenied(err, names, func(topic string) error {
		_, err := adm.DescribeTopicConfigs(ctx, topic)
		return err
	}, func(topic string) error { return describeDenied(kerr.TopicAuthorizationFailed, topic) })
}
