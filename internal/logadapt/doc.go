// Package logadapt bridges the loggers of goka, sarama and kfake to log/slog.
package logadapt
