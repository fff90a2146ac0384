// The SQLSTATEs pg_tenant_backup raises, named as PostgreSQL names their
// conditions (Appendix A of its manual). Five characters, as in the SQL
// standard; src/pg turns them into ERRCODE values.
#pragma once

namespace ptb::core::sqlstate {

// Class 0A: feature not supported
inline constexpr const char* kFeatureNotSupported = "0A000";
// Class 22: data exception
inline constexpr const char* kDataException = "22000";
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kInvalidTextRepresentation = "22P02";
// Class 23: integrity constraint violation
inline constexpr const char* kNotNullViolation = "23502";
inline constexpr const char* kForeignKeyViolation = "23503";
inline constexpr const char* kUniqueViolation = "23505";
// Class 3F: invalid schema name
inline constexpr const char* kInvalidSchemaName = "3F000";
// Class 40: transaction rollback
inline constexpr const char* kTransactionRollback = "40000";
// Class 42: syntax error or access rule violation
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kUndefinedColumn = "42703";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kDatatypeMismatch = "42804";
inline constexpr const char* kUndefinedTable = "42P01";
// Class 53: insufficient resources
inline constexpr const char* kOutOfMemory = "53200";
inline constexpr const char* kConfigurationLimitExceeded = "53400";
// Class 54: program limit exceeded
inline constexpr const char* kProgramLimitExceeded = "54000";
// Class 55: object not in prerequisite state
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kObjectInUse = "55006";
inline constexpr const char* kLockNotAvailable = "55P03";
// Class 57: operator intervention
inline constexpr const char* kAdminShutdown = "57P01";
// Class 58: system error
inline constexpr const char* kUndefinedFile = "58P01";
// Class F0: configuration file error
inline constexpr const char* kConfigFileError = "F0000";
// Class XX: internal error
inline constexpr const char* kInternalError = "XX000";
inline constexpr const char* kDataCorrupted = "XX001";

}  // namespace ptb::core::sqlstate
