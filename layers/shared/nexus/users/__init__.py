"""UserService: users on DynamoDB through pynamodb."""

from nexus.users.schemas import NewUser, User, UserChanges, UserFilters, UserPage
from nexus.users.service import UserService

__all__ = ["NewUser", "User", "UserChanges", "UserFilters", "UserPage", "UserService"]
