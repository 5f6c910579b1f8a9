"""What the tests and the bench share: the in-process API client, the AWS call scenarios, the
local server driver, the moto and Redis servers, fakes and statistics. It imports neither."""
