"""DuckDB SQL that folds raw changes into current state, dimensions and facts."""
